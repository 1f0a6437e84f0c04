// ViT shapes of docs/method.md section 4 plus a micro model for tests and the default run.
import type { NativeVitConfig } from '../native.js';

export type VitPreset =
  | 'vit-micro' | 'vit-ti' | 'vit-s' | 'vit-b'
  | 'swin-micro' | 'swin-t' | 'swin-s' | 'swin-b' | 'swin-t-cifar'
  | 'cait-micro' | 'cait-xxs12' | 'cait-xxs24' | 'cait-xs12' | 'cait-s12'
  | 'cait-xxs12-cifar' | 'cait-xxs24-cifar' | 'cait-xs12-cifar' | 'cait-s12-cifar';

export interface VitConfig {
  imageSize: number;
  channels: number;
  patchSize: number;
  numClasses: number;
  width: number;
  depth: number;
  heads: number;
  /** Hidden width of the MLP = width * mlpRatio (rounded). */
  mlpRatio: number;
  /** Dropout rate at every dropout site (docs/method.md section 4); 0 turns it off. */
  dropout: number;
  gelu: 'tanh' | 'erf';
  /**
   * Model family (docs/method.md section 4.7): 'vit' (default) or 'swin'. For swin, `width`,
   * `depth` and `heads` only describe it (stage-0 width, total blocks, stage-0 heads); the
   * shape is `embedDim`, `depths`, `stageHeads` and `window`.
   */
  family?: 'vit' | 'swin' | 'cait';
  embedDim?: number;
  depths?: number[];
  stageHeads?: number[];
  /** Window side in tokens (clipped to a stage's side, the shift then dropped). */
  window?: number;
  /**
   * Swin: stochastic depth rate of the last block (timm's drop_path_rate; linear from 0).
   * CaiT: the rate of every self-attention block (timm's Cait: constant; none in the
   * class-attention blocks).
   */
  dropPath?: number;
  /** CaiT: class-attention blocks after the `depth` self-attention blocks (default 2). */
  classDepth?: number;
  /** CaiT: LayerScale's initial gamma; 0 or absent = by depth (0.1 up to 18, 1e-5 up to 24, 1e-6 beyond). */
  layerScaleInit?: number;
}

const BASE: Omit<VitConfig, 'width' | 'depth' | 'heads'> = {
  imageSize: 32,
  channels: 3,
  patchSize: 4,
  numClasses: 10,
  mlpRatio: 4,
  dropout: 0.1,
  gelu: 'tanh',
};

/** A Swin preset: timm's architecture (erf GELU, no dropout; stochastic depth not yet). */
function swin(imageSize: number, patchSize: number, embedDim: number, depths: number[], stageHeads: number[], window: number, numClasses: number): VitConfig {
  return {
    ...BASE, family: 'swin', imageSize, patchSize, numClasses, dropout: 0, gelu: 'erf',
    width: embedDim, depth: depths.reduce((a, b) => a + b, 0), heads: stageHeads[0]!,
    embedDim, depths, stageHeads, window,
  };
}

/**
 * A CaiT preset (docs/method.md section 4.8): timm's Cait (erf GELU, no dropout, 2
 * class-attention blocks, MLP ratio 4) at 224 px / patch 16 with 1000 classes, or the CIFAR
 * variant at 32 px / patch 4 with 10 classes (64 patch tokens).
 */
function cait(width: number, depth: number, heads: number, cifar: boolean): VitConfig {
  return {
    ...BASE, family: 'cait', imageSize: cifar ? 32 : 224, patchSize: cifar ? 4 : 16, numClasses: cifar ? 10 : 1000,
    dropout: 0, gelu: 'erf', width, depth, heads, classDepth: 2,
  };
}

export const VIT_PRESETS: Record<VitPreset, VitConfig> = {
  'vit-micro': { ...BASE, width: 64, depth: 4, heads: 2 },
  'vit-ti': { ...BASE, width: 192, depth: 12, heads: 3 },
  'vit-s': { ...BASE, width: 384, depth: 12, heads: 6 },
  'vit-b': { ...BASE, width: 768, depth: 12, heads: 12 },
  // timm's swin_{tiny,small,base}_patch4_window7_224 (ImageNet shape, 1000 classes).
  'swin-t': swin(224, 4, 96, [2, 2, 6, 2], [3, 6, 12, 24], 7, 1000),
  'swin-s': swin(224, 4, 96, [2, 2, 18, 2], [3, 6, 12, 24], 7, 1000),
  'swin-b': swin(224, 4, 128, [2, 2, 18, 2], [4, 8, 16, 32], 7, 1000),
  // CIFAR variant of swin-t at 32 px: patch 2, window 4; stages of 16, 8, 4, 2 tokens a side
  // (the last stage's window clipped to 2, unshifted).
  'swin-t-cifar': swin(32, 2, 96, [2, 2, 6, 2], [3, 6, 12, 24], 4, 10),
  // a tiny Swin for tests: 32 px, patch 4, two stages.
  'swin-micro': swin(32, 4, 16, [2, 2], [2, 4], 4, 10),
  // CaiT-XXS/XS/S with 12 or 24 self-attention blocks (the paper's Table 4 shapes).
  'cait-xxs12': cait(192, 12, 4, false),
  'cait-xxs24': cait(192, 24, 4, false),
  'cait-xs12': cait(288, 12, 6, false),
  'cait-s12': cait(384, 12, 8, false),
  'cait-xxs12-cifar': cait(192, 12, 4, true),
  'cait-xxs24-cifar': cait(192, 24, 4, true),
  'cait-xs12-cifar': cait(288, 12, 6, true),
  'cait-s12-cifar': cait(384, 12, 8, true),
  // a tiny CaiT for tests: 32 px, patch 8 (16 patch tokens), 2 + 2 blocks.
  'cait-micro': { ...cait(32, 2, 2, true), patchSize: 8 },
};

/**
 * The model a run trains: the preset's shape on the data's images (size, channels, classes)
 * with the run's patch size, dropout and GELU. A Swin preset used at another image size than
 * its own (224 px) gets window 4, the CIFAR variants of docs/method.md section 4.7 (at 32 px
 * with patch 2: stages of 16, 8, 4, 2 tokens a side).
 */
export function runModelConfig(
  preset: VitPreset,
  data: { imageSize: number; channels: number; numClasses: number },
  opts: { patchSize: number; dropout: number; gelu: 'tanh' | 'erf' },
): VitConfig {
  const base = vitConfig(preset);
  const c = vitConfig(preset, { ...data, ...opts });
  if (base.family === 'swin' && data.imageSize !== base.imageSize) c.window = 4;
  return c;
}

/** A full config from a preset name plus overrides. */
export function vitConfig(preset: VitPreset, overrides: Partial<VitConfig> = {}): VitConfig {
  const base = VIT_PRESETS[preset];
  if (!base) {
    throw new Error(`model: unknown preset "${preset}", expected one of ${Object.keys(VIT_PRESETS).join(', ')}`);
  }
  return { ...base, ...overrides };
}

export function toNativeConfig(c: VitConfig): NativeVitConfig {
  if (!(c.mlpRatio > 0)) throw new RangeError(`config.mlpRatio: got ${c.mlpRatio}, expected a number > 0`);
  if (c.family === 'swin') {
    return {
      family: 'swin', imageSize: c.imageSize, channels: c.channels, patchSize: c.patchSize,
      numClasses: c.numClasses, dropout: c.dropout, gelu: c.gelu,
      embedDim: c.embedDim, depths: c.depths, stageHeads: c.stageHeads, window: c.window, mlpRatio: c.mlpRatio, dropPath: c.dropPath ?? 0,
    } as unknown as NativeVitConfig;
  }
  if (c.family === 'cait') {
    return {
      family: 'cait', imageSize: c.imageSize, channels: c.channels, patchSize: c.patchSize,
      numClasses: c.numClasses, width: c.width, depth: c.depth, heads: c.heads,
      mlpHidden: Math.round(c.width * c.mlpRatio), dropout: c.dropout, gelu: c.gelu,
      dropPath: c.dropPath ?? 0, classDepth: c.classDepth ?? 2, layerScaleInit: c.layerScaleInit ?? 0,
    } as unknown as NativeVitConfig;
  }
  return {
    imageSize: c.imageSize,
    channels: c.channels,
    patchSize: c.patchSize,
    numClasses: c.numClasses,
    width: c.width,
    depth: c.depth,
    heads: c.heads,
    mlpHidden: Math.round(c.width * c.mlpRatio),
    dropout: c.dropout,
    gelu: c.gelu,
  };
}
