// The stand-in cuBLAS of the CPU emulation (libgrwarm_cublas_emu.so; docs/cuda-emulation.md).
//
// Exports the entry points the plugin opens (native/src/cuda/cublas_loader.cpp) with cuBLAS's
// signatures and column-major semantics. Each call checks what cuBLAS documents as
// CUBLAS_STATUS_INVALID_VALUE (operations, sizes, leading dimensions, data and compute types)
// and, beyond what cuBLAS can check, that every operand lies inside one device allocation; the
// product itself is queued on the handle's stream and runs in stream order with the kernels.
// Sums run over k in order, in the compute type (float for S and bf16, double for D); beta == 0
// overwrites C without reading it, as cuBLAS does.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../src/cuda/cublas_api.h"
#include "gw_emu/runtime.h"

namespace blas = grwarm::cuda::blas;

struct grwarm::cuda::blas::Context {
  cudaStream_t stream = nullptr;
  blas::Math math = blas::kDefaultMath;
};

namespace {

// Why the last call was refused, for the test's messages (GRWARM_EMU_BLAS_VERBOSE=1 prints it).
void refuse(const char* fn, const std::string& why) {
  if (const char* v = std::getenv("GRWARM_EMU_BLAS_VERBOSE"); v && *v == '1')
    std::fprintf(stderr, "stand-in cuBLAS: %s: CUBLAS_STATUS_INVALID_VALUE: %s\n", fn, why.c_str());
}

bool valid_op(blas::Operation o) { return o == blas::kOpN || o == blas::kOpT || o == blas::kOpC; }

float bf16(uint16_t h) {
  const uint32_t b = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// Elements spanned by a column-major rows x cols operand with leading dimension ld.
long long span(long long rows, long long cols, long long ld) {
  return rows <= 0 || cols <= 0 ? 0 : (cols - 1) * ld + rows;
}

struct Gemm {
  blas::Operation ta, tb;
  int m, n, k;
  int lda, ldb, ldc;
  long long sa = 0, sb = 0, sc = 0;
  int batch = 1;
};

// cuBLAS's argument rules plus the operand bounds; empty when the call is valid.
std::string check(const Gemm& g, const void* A, const void* B, const void* C, size_t ea, size_t ec) {
  if (!valid_op(g.ta) || !valid_op(g.tb)) return "transa/transb must be N, T or C";
  if (g.m < 0 || g.n < 0 || g.k < 0) return "m, n and k must be >= 0";
  if (g.batch < 0) return "batchCount must be >= 0";
  const long long arows = g.ta == blas::kOpN ? g.m : g.k, acols = g.ta == blas::kOpN ? g.k : g.m;
  const long long brows = g.tb == blas::kOpN ? g.k : g.n, bcols = g.tb == blas::kOpN ? g.n : g.k;
  if (g.lda < std::max<long long>(1, arows))
    return "lda " + std::to_string(g.lda) + " < max(1, " + std::to_string(arows) + ") (rows of A as stored)";
  if (g.ldb < std::max<long long>(1, brows))
    return "ldb " + std::to_string(g.ldb) + " < max(1, " + std::to_string(brows) + ") (rows of B as stored)";
  if (g.ldc < std::max(1, g.m)) return "ldc " + std::to_string(g.ldc) + " < max(1, m = " + std::to_string(g.m) + ")";
  if (g.m == 0 || g.n == 0 || g.batch == 0) return "";
  auto inside = [&](const char* what, const void* p, long long one, long long stride, size_t esz) -> std::string {
    if (one == 0) return "";
    if (stride < 0) return std::string("negative stride of ") + what;
    const long long elems = (g.batch - 1) * stride + one;
    std::string why;
    if (!gw_emu::device_range(p, size_t(elems) * esz, &why)) return std::string("operand ") + what + ": " + why;
    return "";
  };
  std::string e;
  if (g.k > 0) {
    if (!(e = inside("A", A, span(arows, acols, g.lda), g.sa, ea)).empty()) return e;
    if (!(e = inside("B", B, span(brows, bcols, g.ldb), g.sb, ea)).empty()) return e;
  }
  return inside("C", C, span(g.m, g.n, g.ldc), g.sc, ec);
}

// C = alpha op(A) op(B) + beta C, column-major. Each element's sum runs over p = 0..k-1 in
// order, in Acc; the loops are arranged for contiguous reads (an axpy over the column when A is
// not transposed, a dot product along A's column when it is), which leaves that order alone.
template <class In, class Acc, class Out, class Load>
void compute(const Gemm& g, const In* A, const In* B, Out* C, Acc alpha, Acc beta, Load load) {
  std::vector<Acc> acc(size_t(g.m));
  for (int b = 0; b < g.batch; ++b) {
    const In* a = A + b * g.sa;
    const In* bb = B + b * g.sb;
    Out* c = C + b * g.sc;
    for (int j = 0; j < g.n; ++j) {
      auto bv = [&](int p) { return load(g.tb == blas::kOpN ? bb[p + size_t(j) * g.ldb] : bb[j + size_t(p) * g.ldb]); };
      if (g.ta == blas::kOpN) {
        std::fill(acc.begin(), acc.end(), Acc(0));
        for (int p = 0; p < g.k; ++p) {
          const Acc y = bv(p);
          const In* ap = a + size_t(p) * g.lda;
          for (int i = 0; i < g.m; ++i) acc[size_t(i)] += load(ap[i]) * y;
        }
      } else {
        for (int i = 0; i < g.m; ++i) {
          const In* ai = a + size_t(i) * g.lda;
          Acc s = Acc(0);
          for (int p = 0; p < g.k; ++p) s += load(ai[p]) * bv(p);
          acc[size_t(i)] = s;
        }
      }
      for (int i = 0; i < g.m; ++i) {
        Out& out = c[i + size_t(j) * g.ldc];
        out = beta == Acc(0) ? Out(alpha * acc[size_t(i)]) : Out(alpha * acc[size_t(i)] + beta * Acc(out));
      }
    }
  }
}

template <class T>
blas::Status gemm_t(const char* fn, blas::Handle h, const Gemm& g, const T* alpha, const T* A,
                    const T* B, const T* beta, T* C) {
  if (!h) return blas::kNotInitialized;
  gw_emu::count_blas_call();
  if (!alpha || !beta) {
    refuse(fn, "alpha and beta must not be null");
    return blas::kInvalidValue;
  }
  const std::string why = check(g, A, B, C, sizeof(T), sizeof(T));
  if (!why.empty()) {
    refuse(fn, why);
    return blas::kInvalidValue;
  }
  if (g.m == 0 || g.n == 0 || g.batch == 0 || !gw_emu::blas_compute()) return blas::kSuccess;
  const T a = *alpha, b = *beta;  // host pointer mode: read at the call
  gw_emu::enqueue(h->stream, fn, [g, A, B, C, a, b] {
    compute<T, T, T>(g, A, B, C, a, b, [](T v) { return v; });
  });
  return blas::kSuccess;
}

}  // namespace

extern "C" {

GW_EMU_API blas::Status cublasCreate_v2(blas::Handle* h) {
  if (!h) return blas::kInvalidValue;
  *h = new blas::Context();
  return blas::kSuccess;
}

GW_EMU_API blas::Status cublasDestroy_v2(blas::Handle h) {
  if (!h) return blas::kNotInitialized;
  delete h;
  return blas::kSuccess;
}

GW_EMU_API blas::Status cublasSetStream_v2(blas::Handle h, cudaStream_t s) {
  if (!h) return blas::kNotInitialized;
  h->stream = s;
  return blas::kSuccess;
}

GW_EMU_API blas::Status cublasSetMathMode(blas::Handle h, blas::Math m) {
  if (!h) return blas::kNotInitialized;
  if (m != blas::kDefaultMath && m != blas::kTensorOpMath && m != blas::kPedanticMath &&
      m != blas::kTf32TensorOpMath)
    return blas::kInvalidValue;
  h->math = m;
  return blas::kSuccess;
}

GW_EMU_API blas::Status cublasGetVersion_v2(blas::Handle h, int* v) {
  if (!h) return blas::kNotInitialized;
  if (!v) return blas::kInvalidValue;
  *v = 130000;
  return blas::kSuccess;
}

GW_EMU_API blas::Status cublasGetProperty(blas::LibraryProperty p, int* v) {
  if (!v) return blas::kInvalidValue;
  switch (p) {
    case blas::kMajorVersion: *v = 0; return blas::kSuccess;  // "0.0.0": not a real cuBLAS
    case blas::kMinorVersion: *v = 0; return blas::kSuccess;
    case blas::kPatchLevel: *v = 0; return blas::kSuccess;
  }
  return blas::kInvalidValue;
}

GW_EMU_API blas::Status cublasSgemm_v2(blas::Handle h, blas::Operation ta, blas::Operation tb, int m,
                                       int n, int k, const float* alpha, const float* A, int lda,
                                       const float* B, int ldb, const float* beta, float* C, int ldc) {
  return gemm_t("cublasSgemm_v2", h, Gemm{ta, tb, m, n, k, lda, ldb, ldc}, alpha, A, B, beta, C);
}

GW_EMU_API blas::Status cublasDgemm_v2(blas::Handle h, blas::Operation ta, blas::Operation tb, int m,
                                       int n, int k, const double* alpha, const double* A, int lda,
                                       const double* B, int ldb, const double* beta, double* C,
                                       int ldc) {
  return gemm_t("cublasDgemm_v2", h, Gemm{ta, tb, m, n, k, lda, ldb, ldc}, alpha, A, B, beta, C);
}

GW_EMU_API blas::Status cublasSgemmStridedBatched(blas::Handle h, blas::Operation ta,
                                                  blas::Operation tb, int m, int n, int k,
                                                  const float* alpha, const float* A, int lda,
                                                  long long sa, const float* B, int ldb,
                                                  long long sb, const float* beta, float* C,
                                                  int ldc, long long sc, int batch) {
  return gemm_t("cublasSgemmStridedBatched", h, Gemm{ta, tb, m, n, k, lda, ldb, ldc, sa, sb, sc, batch},
                alpha, A, B, beta, C);
}

GW_EMU_API blas::Status cublasDgemmStridedBatched(blas::Handle h, blas::Operation ta,
                                                  blas::Operation tb, int m, int n, int k,
                                                  const double* alpha, const double* A, int lda,
                                                  long long sa, const double* B, int ldb,
                                                  long long sb, const double* beta, double* C,
                                                  int ldc, long long sc, int batch) {
  return gemm_t("cublasDgemmStridedBatched", h, Gemm{ta, tb, m, n, k, lda, ldb, ldc, sa, sb, sc, batch},
                alpha, A, B, beta, C);
}

// Only the combination the plugin uses is emulated: bf16 A and B, float32 C, float32 compute.
GW_EMU_API blas::Status cublasGemmEx(blas::Handle h, blas::Operation ta, blas::Operation tb, int m,
                                     int n, int k, const void* alpha, const void* A,
                                     blas::DataType at, int lda, const void* B, blas::DataType bt,
                                     int ldb, const void* beta, void* C, blas::DataType ct, int ldc,
                                     blas::ComputeType ctype, blas::GemmAlgo algo) {
  if (!h) return blas::kNotInitialized;
  gw_emu::count_blas_call();
  if (at != blas::kR16BF || bt != blas::kR16BF || ct != blas::kR32F || ctype != blas::kCompute32F) {
    refuse("cublasGemmEx", "the emulation has bf16 x bf16 -> float32 with float32 compute only");
    return blas::kNotSupported;
  }
  if (!alpha || !beta) {
    refuse("cublasGemmEx", "alpha and beta must not be null");
    return blas::kInvalidValue;
  }
  const Gemm g{ta, tb, m, n, k, lda, ldb, ldc};
  const std::string why = check(g, A, B, C, 2, 4);
  if (!why.empty()) {
    refuse("cublasGemmEx", why);
    return blas::kInvalidValue;
  }
  if (m == 0 || n == 0 || !gw_emu::blas_compute()) return blas::kSuccess;
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  const auto* pa = static_cast<const uint16_t*>(A);
  const auto* pb = static_cast<const uint16_t*>(B);
  auto* pc = static_cast<float*>(C);
  gw_emu::enqueue(h->stream, "cublasGemmEx", [g, pa, pb, pc, a, b] {
    compute<uint16_t, float, float>(g, pa, pb, pc, a, b, [](uint16_t v) { return bf16(v); });
  });
  return blas::kSuccess;
}

}  // extern "C"
