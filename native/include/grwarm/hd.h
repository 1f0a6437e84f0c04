// GW_HD marks a function usable from both host C++ and CUDA device code.
// Every element-wise formula lives in a header under include/grwarm/ and is tagged with GW_HD,
// so the CPU tests exercise the element-wise math the GPU runs (GELU, dropout masks, the
// optimizers, GR perturb/combine). Reductions are another matter: a row (LayerNorm statistics,
// softmax, cross-entropy) or a whole buffer (norms) may be summed in a different order on the
// GPU (warp and block trees) than on the CPU (left to right), so those agree to rounding, not
// to the bit; native/tests/ states the tolerance of each op.
#pragma once

#if defined(__CUDACC__)
#define GW_HD __host__ __device__ __forceinline__
#else
#define GW_HD inline
#endif

#include <cstdint>
