// Small image folders of real JPEG/PNG files for the image-folder data tests, made with sharp.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

/** A w×h RGB image whose colour encodes (label, k) and with a gradient, so crops differ. */
export function pattern(w: number, h: number, label: number, k: number): Buffer {
  const buf = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      buf[o] = (label * 60 + 20) & 255;
      buf[o + 1] = Math.floor((255 * x) / Math.max(1, w - 1));
      buf[o + 2] = (Math.floor((255 * y) / Math.max(1, h - 1)) + k * 7) & 255;
    }
  }
  return buf;
}

export type Mode = 'jpeg' | 'png' | 'gray' | 'cmyk' | 'png16' | 'alpha';

export async function writeImage(path: string, w: number, h: number, label: number, k: number, mode: Mode): Promise<void> {
  const img = sharp(pattern(w, h, label, k), { raw: { width: w, height: h, channels: 3 } });
  switch (mode) {
    case 'jpeg':
      await img.jpeg({ quality: 95 }).toFile(path);
      break;
    case 'png':
      await img.png().toFile(path);
      break;
    case 'gray':
      await img.toColourspace('b-w').jpeg().toFile(path);
      break;
    case 'cmyk':
      await img.toColourspace('cmyk').jpeg().toFile(path);
      break;
    case 'png16':
      await img.toColourspace('rgb16').png().toFile(path);
      break;
    case 'alpha':
      await img.ensureAlpha(0.5).png().toFile(path);
      break;
  }
}

const MODES: Mode[] = ['jpeg', 'png', 'gray', 'cmyk', 'png16', 'alpha'];
const EXT: Record<Mode, string> = { jpeg: 'jpg', png: 'png', gray: 'jpeg', cmyk: 'jpg', png16: 'png', alpha: 'png' };

/**
 * root/{train,val}/<class>/img<k>.<ext>: `classes` classes, `perClass` training and 2
 * evaluation images each, of varied sizes and modes.
 */
export async function makeImageFolder(root: string, classes = 3, perClass = 6, evalName = 'val'): Promise<void> {
  for (const [split, n] of [['train', perClass], [evalName, 2]] as const) {
    for (let c = 0; c < classes; c++) {
      const dir = join(root, split, `class${String.fromCharCode(97 + c)}`);
      mkdirSync(dir, { recursive: true });
      for (let k = 0; k < n; k++) {
        const mode = MODES[(c + k) % MODES.length];
        await writeImage(join(dir, `img${k}.${EXT[mode]}`), 40 + 13 * k, 36 + 9 * ((k + c) % 4), c, k, mode);
      }
    }
  }
}

/** TinyImageNet's distributed layout with `classes` wnids. */
export async function makeTinyImageNet(root: string, classes = 3, perClass = 4): Promise<string[]> {
  const wnids = Array.from({ length: classes }, (_, i) => `n0${i}44${i}`);
  mkdirSync(join(root, 'val', 'images'), { recursive: true });
  // Deliberately unsorted: labels follow the sorted ids.
  writeFileSync(join(root, 'wnids.txt'), [...wnids].reverse().join('\n') + '\n');
  const ann: string[] = [];
  for (let c = 0; c < classes; c++) {
    const dir = join(root, 'train', wnids[c], 'images');
    mkdirSync(dir, { recursive: true });
    for (let k = 0; k < perClass; k++) await writeImage(join(dir, `${wnids[c]}_${k}.JPEG`), 64, 64, c, k, 'jpeg');
    for (let k = 0; k < 2; k++) {
      const name = `val_${c * 2 + k}.JPEG`;
      await writeImage(join(root, 'val', 'images', name), 64, 64, c, k, 'jpeg');
      ann.push(`${name}\t${wnids[c]}\t0\t0\t63\t63`);
    }
  }
  writeFileSync(join(root, 'val', 'val_annotations.txt'), ann.reverse().join('\n') + '\n');
  return wnids;
}
