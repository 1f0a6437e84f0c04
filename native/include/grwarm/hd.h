// GW_HD marks a function usable from both host C++ and CUDA device code.
// Every element-wise / row-wise formula lives in a header under include/grwarm/
// and is tagged with GW_HD, so the CPU tests exercise the exact math the GPU runs.
#pragma once

#if defined(__CUDACC__)
#define GW_HD __host__ __device__ __forceinline__
#else
#define GW_HD inline
#endif

#include <cstdint>
