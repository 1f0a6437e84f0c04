// ViT shapes of docs/method.md section 4 plus a micro model for tests and the default run.
import type { NativeVitConfig } from '../native.js';

export type VitPreset = 'vit-micro' | 'vit-ti' | 'vit-s' | 'vit-b';

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

export const VIT_PRESETS: Record<VitPreset, VitConfig> = {
  'vit-micro': { ...BASE, width: 64, depth: 4, heads: 2 },
  'vit-ti': { ...BASE, width: 192, depth: 12, heads: 3 },
  'vit-s': { ...BASE, width: 384, depth: 12, heads: 6 },
  'vit-b': { ...BASE, width: 768, depth: 12, heads: 12 },
};

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
