/**
 * One image file → 3-channel 8-bit CHW pixels at a fixed square side, with sharp (libvips).
 *
 * The image is resized so its shorter side is `side` (bicubic; JPEGs use libjpeg's
 * shrink-on-load first, so a 500 px JPEG brought to 80 px is mostly decoded at 1/4 or 1/8
 * scale), and the central side×side square is kept. With `crop` < side only the central
 * crop×crop of that square is returned (the evaluation crop). Grayscale, CMYK, 16-bit and
 * alpha images all come out as sRGB uint8 (alpha is dropped, as PIL's convert('RGB') does).
 * Truncated files are errors (failOn 'truncated'), as are files that are not images.
 */
import sharp from 'sharp';

export interface DecodeSpec {
  /** Side of the square the shorter side is resized to (then centre-cropped). */
  side: number;
  /** Side of the central crop kept (= side for the whole square). */
  crop: number;
}

/** Writes 3·crop·crop bytes (CHW) into out[offset...]. Throws an Error naming `path`. */
export async function decodeInto(path: string, spec: DecodeSpec, out: Uint8Array, offset: number): Promise<void> {
  const { side, crop } = spec;
  let data: Buffer;
  try {
    let pipe = sharp(path, { failOn: 'truncated' })
      .removeAlpha()
      .toColourspace('srgb')
      .resize(side, side, { fit: 'cover', position: 'centre', kernel: 'cubic' });
    if (crop < side) {
      const o = Math.floor((side - crop) / 2);
      pipe = pipe.extract({ left: o, top: o, width: crop, height: crop });
    }
    const res = await pipe.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    data = res.data;
    if (res.info.channels !== 3 || res.info.width !== crop || res.info.height !== crop) {
      throw new Error(`decoded to ${res.info.width}x${res.info.height}x${res.info.channels}, expected ${crop}x${crop}x3`);
    }
  } catch (e) {
    throw new Error(`${path}: cannot decode image: ${(e as Error).message}`);
  }
  // HWC (sharp) → CHW (Dataset).
  const plane = crop * crop;
  for (let p = 0, q = 0; p < plane; p++, q += 3) {
    out[offset + p] = data[q];
    out[offset + plane + p] = data[q + 1];
    out[offset + 2 * plane + p] = data[q + 2];
  }
}
