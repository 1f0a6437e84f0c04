// Row permutations of Swin's token rearrangements, built once on the host and uploaded; the
// backend applies them with gather_rows (its backward is the inverse permutation).
//
// Tokens of one image are rows h * W + w of an [H, W] grid.
#pragma once
#include <cstdint>
#include <vector>

namespace grwarm {

// Cyclic shift by -shift in both axes (torch.roll(x, (-shift, -shift), (1, 2))) followed by the
// window partition of timm's window_partition: output row ((wy * nWx + wx) * win + iy) * win + ix
// takes input row ((wy * win + iy + shift) mod H) * W + ((wx * win + ix + shift) mod W).
inline std::vector<int32_t> window_partition_index(int H, int W, int win, int shift) {
  std::vector<int32_t> idx(size_t(H) * W);
  const int nWx = W / win;
  size_t r = 0;
  for (int wy = 0; wy < H / win; ++wy)
    for (int wx = 0; wx < nWx; ++wx)
      for (int iy = 0; iy < win; ++iy)
        for (int ix = 0; ix < win; ++ix) {
          const int h = (wy * win + iy + shift) % H, w = (wx * win + ix + shift) % W;
          idx[r++] = int32_t(h * W + w);
        }
  return idx;
}

// timm's PatchMerging (>= 0.9: reshape(B, H/2, 2, W/2, 2, C).permute(0, 1, 3, 4, 2, 5)): output
// token (i, j) concatenates input tokens (2i, 2j), (2i+1, 2j), (2i, 2j+1), (2i+1, 2j+1), so
// output row (i * W/2 + j) * 4 + k of the [H*W/4 * 4, C] view takes row (2i + k%2) * W + 2j + k/2.
inline std::vector<int32_t> patch_merge_index(int H, int W) {
  std::vector<int32_t> idx(size_t(H) * W);
  size_t r = 0;
  for (int i = 0; i < H / 2; ++i)
    for (int j = 0; j < W / 2; ++j)
      for (int k = 0; k < 4; ++k) idx[r++] = int32_t((2 * i + k % 2) * W + 2 * j + k / 2);
  return idx;
}

// q[p[r]] = r
inline std::vector<int32_t> inverse_permutation(const std::vector<int32_t>& p) {
  std::vector<int32_t> q(p.size());
  for (size_t r = 0; r < p.size(); ++r) q[size_t(p[r])] = int32_t(r);
  return q;
}

// The per-image permutation repeated over B images (rows of image b offset by b * n).
inline std::vector<int32_t> batched(const std::vector<int32_t>& p, int B) {
  std::vector<int32_t> out(p.size() * size_t(B));
  const int32_t n = int32_t(p.size());
  for (int b = 0; b < B; ++b)
    for (size_t r = 0; r < p.size(); ++r) out[size_t(b) * p.size() + r] = p[r] + b * n;
  return out;
}

}  // namespace grwarm
