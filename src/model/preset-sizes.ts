// Every preset's parameter count, from the native family layouts (nothing is allocated), for
// `info` and the README's model table.
import { native } from '../native.js';
import { toNativeConfig, VIT_PRESETS, type VitPreset } from './presets.js';

export interface PresetSize {
  preset: VitPreset;
  family: string;
  imageSize: number;
  patchSize: number;
  numClasses: number;
  params: number;
}

/** Each preset at its own shape (image size, patch size, classes), in the presets' order. */
export function presetSizes(): PresetSize[] {
  return (Object.keys(VIT_PRESETS) as VitPreset[]).map((preset) => {
    const c = VIT_PRESETS[preset];
    return {
      preset,
      family: c.family ?? 'vit',
      imageSize: c.imageSize,
      patchSize: c.patchSize,
      numClasses: c.numClasses,
      params: native().paramCount(toNativeConfig(c)),
    };
  });
}
