// CPU implementations of the memory, embedding, normalisation, activation and head ops.
// Compiled once per ISA variant (isa.h); isa_kernels() at the end is the variant's entry point.
#include <algorithm>
#include <cmath>
#include <limits>
#include <chrono>
#include <type_traits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <vector>

#include "attention.h"
#include "column_ranges.h"
#include "flat_ops.h"
#include "cpu_backend.h"
#include "blas.h"
#include "gemm_kernel.h"
#include "isa_kernels.h"
#include "masked_loop.h"
#include "parallel.h"
#include "grwarm/bf16.h"
#include "grwarm/layernorm_row.h"
#include "grwarm/softmax_xent_row.h"

namespace grwarm::cpu::GRWARM_ISA_NS {

// ---- memory ---------------------------------------------------------------------------------

template <class T>
void* CpuBackend<T>::alloc_bytes(size_t bytes) {
  // 64-byte alignment: whole cache lines and full AVX-512 vectors for every buffer.
  size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  return p;
}
template <class T>
void CpuBackend<T>::free_bytes(void* p) {
  std::free(p);
}
template <class T>
void CpuBackend<T>::upload(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}
template <class T>
void CpuBackend<T>::download(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}

template <class T>
void CpuBackend<T>::copy(T* dst, const T* src, size_t n) {
  const long long nn = (long long)n;
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < nn; ++i) dst[i] = src[i];
}

template <class T>
void CpuBackend<T>::fill(T* dst, T v, size_t n) {
  const long long nn = (long long)n;
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < nn; ++i) dst[i] = v;
}

// ---- dense helpers ----------------------------------------------------------------------------

namespace {
// Times a GEMM library call into the process-wide clock (parallel.h: gemm_library_ns).
template <class F>
void timed_gemm(F&& call) {
  const auto t0 = std::chrono::steady_clock::now();
  call();
  add_gemm_library_ns(uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now() - t0)
                                   .count()));
}
}  // namespace

template <class T>
OneDnnMatmul* CpuBackend<T>::matmul() {
  if (!matmul_tried_) {
    matmul_tried_ = true;
    matmul_ = make_onednn_matmul();
  }
  return matmul_.get();
}

template <class T>
void CpuBackend<T>::gemm_f32_library(Trans ta, Trans tb, int M, int N, int K, float alpha,
                                     const float* A, int lda, const float* B, int ldb,
                                     float beta, float* C, int ldc) {
  const GemmImpl impl = gemm_impl();
  timed_gemm([&] {
    if (impl == GemmImpl::OneDnn && matmul() &&
        matmul()->run(GemmInput::F32, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
      return;
    if (impl != GemmImpl::Builtin && blas_loaded())
      blas_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
      gemm_builtin(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  });
}

template <class T>
void CpuBackend<T>::gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
                         const T* B, int ldb, T beta, T* C, int ldc) {
  if constexpr (std::is_same_v<T, float>) {
    gemm_f32_library(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  } else {  // float64: OpenBLAS unless the built-in kernel is selected (oneDNN has no f64)
    timed_gemm([&] {
      if (gemm_impl() != GemmImpl::Builtin && blas_loaded())
        blas_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      else
        gemm_builtin(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    });
  }
}

template <class T>
Bf16Ops* CpuBackend<T>::bf16() {
  if constexpr (std::is_same_v<T, float>) {
    if (!bf16_) bf16_ = std::make_unique<CpuBf16>(*this);
    return bf16_.get();
  } else {
    return nullptr;
  }
}

void CpuBf16::round_bf16(uint16_t* dst, const float* src, size_t n) {
  const long long nn = (long long)n;
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < nn; ++i) dst[i] = bf16_round(src[i]);
}

// bf16 GEMM: oneDNN's bf16 matmul (AMX / AVX512-BF16) when it has one for this CPU, else an
// emulation with the same numbers up to summation order: bf16 values are float32 values, so
// widening the inputs and running the float32 GEMM multiplies exactly the rounded inputs
// with float32 accumulation.
void CpuBf16::gemm_bf16(Trans ta, Trans tb, int M, int N, int K, const uint16_t* A, int lda,
                        const uint16_t* B, int ldb, float beta, float* C, int ldc) {
  {
    bool done = false;
    if (be_.matmul())
      timed_gemm([&] {
        done = be_.matmul()->run(GemmInput::BF16, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
      });
    if (done) return;
    // Stored extents: op(A) is M x K, stored M x lda (No) or K x lda (Yes); likewise B.
    const size_t na = size_t(ta == Trans::No ? M : K) * lda;
    const size_t nb = size_t(tb == Trans::No ? K : N) * ldb;
    std::vector<float>& widened = be_.widened_;
    if (widened.size() < na + nb) widened.resize(na + nb);
    float* wa = widened.data();
    float* wb = wa + na;
    const long long ia = (long long)na, ib = (long long)nb;
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < ia; ++i) wa[i] = bf16_widen(A[i]);
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < ib; ++i) wb[i] = bf16_widen(B[i]);
    timed_gemm([&] {
      if (blas_loaded() && gemm_impl() != GemmImpl::Builtin)
        blas_gemm(ta, tb, M, N, K, 1.0f, wa, lda, wb, ldb, beta, C, ldc);
      else
        gemm_builtin(ta, tb, M, N, K, 1.0f, wa, lda, wb, ldb, beta, C, ldc);
    });
  }
}

// The bias rides in oneDNN's matmul (no broadcast pass over y) when oneDNN runs this GEMM.
template <class T>
void CpuBackend<T>::linear_fwd(T* y, const T* x, const T* W, const T* b, int rows, int out,
                               int in) {
  if constexpr (std::is_same_v<T, float>) {
    if (gemm_impl() == GemmImpl::OneDnn && matmul()) {
      bool done = false;
      timed_gemm([&] {
        done = matmul()->run(GemmInput::F32, Trans::No, Trans::Yes, rows, out, in, 1.0f, x, in, W,
                             in, 0.0f, y, out, b);
      });
      if (done) return;
    }
  }
  Backend<T>::linear_fwd(y, x, W, b, rows, out, in);
}

// The residual add as oneDNN's binary post-op: the GEMM's output tile is added to x_res while
// it is in registers, so the separate residual pass (and the write + read of the branch) goes.
template <class T>
bool CpuBackend<T>::linear_residual_fwd(T* x_out, const T* x_res, const T* x, const T* W,
                                        const T* b, int rows, int out, int in) {
  if constexpr (std::is_same_v<T, float>) {
    if (!gemm_epilogues() || gemm_impl() != GemmImpl::OneDnn || !matmul() || x_out == x_res)
      return false;
    bool done = false;
    timed_gemm([&] {
      done = matmul()->run(GemmInput::F32, Trans::No, Trans::Yes, rows, out, in, 1.0f, x, in, W,
                           in, 0.0f, x_out, out, b, x_res);
    });
    if (done) count_gemm_epilogue();
    return done;
  } else {
    return Backend<T>::linear_residual_fwd(x_out, x_res, x, W, b, rows, out, in);
  }
}

bool CpuBf16::linear_residual_fwd_bf16(float* x_out, const float* x_res, const uint16_t* x,
                                       const uint16_t* W, const float* b, int rows, int out,
                                       int in) {
  if (!gemm_epilogues() || !be_.matmul() || x_out == x_res) return false;
  bool done = false;
  timed_gemm([&] {
    done = be_.matmul()->run(GemmInput::BF16, Trans::No, Trans::Yes, rows, out, in, 1.0f, x, in,
                             W, in, 0.0f, x_out, out, b, x_res);
  });
  if (done) count_gemm_epilogue();
  return done;
}

void CpuBf16::linear_fwd_bf16(float* y, const uint16_t* x, const uint16_t* W, const float* b,
                              int rows, int out, int in) {
  if (be_.matmul()) {
    bool done = false;
    timed_gemm([&] {
      done = be_.matmul()->run(GemmInput::BF16, Trans::No, Trans::Yes, rows, out, in, 1.0f, x, in,
                               W, in, 0.0f, y, out, b);
    });
    if (done) return;
  }
  be_.broadcast_rows(y, b, rows, out);
  gemm_bf16(Trans::No, Trans::Yes, rows, out, in, x, in, W, in, 1.0f, y, out);
}

void CpuBf16::layernorm_fwd_bf16(uint16_t* y, float* mean, float* rstd, const float* x,
                                 const float* g, const float* b, int rows, int cols, float eps) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r)
    layernorm_row_fwd(y + size_t(r) * cols, mean + r, rstd + r, x + size_t(r) * cols, g, b, cols,
                      eps);
}

namespace {
// col_sum_round_bf16 with dropout on or off: no branch in the vectorised loop, the spec in a local.
template <bool kDrop>
void col_sum_round_pass(float* out, std::vector<float>& scratch, uint16_t* Xb, const float* X,
                        int rows, int cols, const DropoutSpec& drop) {
  col_sum_row_blocked(out, scratch, rows, cols, [=](int r, float* acc) {
    const DropoutSpec d = drop;
    const float keep = float(d.keep_scale);
    const long long base = (long long)r * cols;
    const float* x = X + base;
    uint16_t* xb = Xb + base;
#pragma omp simd
    for (long long c = 0; c < cols; ++c) {
      float v = x[c];
      if constexpr (kDrop) v *= dropout_keep(d, uint64_t(base + c)) ? keep : 0.0f;
      acc[c] += v;
      xb[c] = bf16_round(v);
    }
  });
}
}  // namespace

void CpuBf16::col_sum_round_bf16(float* out, uint16_t* Xb, const float* X, int rows, int cols,
                                 const DropoutSpec& drop) {
  if (drop.active())
    col_sum_round_pass<true>(out, be_.colsum_scratch_, Xb, X, rows, cols, drop);
  else
    col_sum_round_pass<false>(out, be_.colsum_scratch_, Xb, X, rows, cols, drop);
}

template <class T>
void CpuBackend<T>::broadcast_rows(T* Y, const T* b, int rows, int cols) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r) std::copy(b, b + cols, Y + size_t(r) * cols);
}

template <class T>
void CpuBackend<T>::col_sum(T* out, const T* X, int rows, int cols, bool accumulate) {
  for_column_ranges(cols, [&](int c0, int c1) {
    T acc[16];
    for (int c = c0; c < c1; ++c) acc[c - c0] = accumulate ? out[c] : T(0);
    for (int r = 0; r < rows; ++r) {
      const T* x = X + size_t(r) * cols;
      for (int c = c0; c < c1; ++c) acc[c - c0] += x[c];
    }
    for (int c = c0; c < c1; ++c) out[c] = acc[c - c0];
  });
}

// ---- embedding --------------------------------------------------------------------------------

template <class T>
void CpuBackend<T>::patchify(T* X, const float* images, int B, int C, int S, int p) {
  const int G = S / p, P = G * G, K = C * p * p;
#pragma omp parallel for schedule(static)
  for (int row = 0; row < B * P; ++row) {
    const int b = row / P, gy = (row % P) / G, gx = row % G;
    T* x = X + size_t(row) * K;
    for (int c = 0; c < C; ++c)
      for (int ky = 0; ky < p; ++ky) {
        const float* src = images + ((size_t(b) * C + c) * S + gy * p + ky) * S + gx * p;
        for (int kx = 0; kx < p; ++kx) x[(c * p + ky) * p + kx] = T(src[kx]);
      }
  }
}

template <class T>
void CpuBackend<T>::embed_fwd(T* x, const T* patches, const T* cls, const T* pos, int B, int P,
                              int D, const DropoutSpec& drop) {
  const int Tn = P + 1;
#pragma omp parallel for schedule(static)
  for (int row = 0; row < B * Tn; ++row) {
    const int b = row / Tn, t = row % Tn;
    const T* src = t == 0 ? cls : patches + (size_t(b) * P + t - 1) * D;
    const T* pe = pos + size_t(t) * D;
    T* dst = x + size_t(row) * D;
    const uint64_t base = uint64_t(row) * D;
    for (int d = 0; d < D; ++d) dst[d] = (src[d] + pe[d]) * dropout_scale<T>(drop, base + d);
  }
}

template <class T>
void CpuBackend<T>::embed_bwd(T* dpatches, T* dcls, T* dpos, const T* dx, int B, int P, int D,
                              const DropoutSpec& drop) {
  const int Tn = P + 1;
  // dpatches: the dropout-masked residual gradient of the patch rows.
#pragma omp parallel for schedule(static)
  for (int row = 0; row < B * P; ++row) {
    const int b = row / P, t = row % P + 1;
    const size_t xrow = size_t(b) * Tn + t;
    const T* src = dx + xrow * D;
    T* dst = dpatches + size_t(row) * D;
    for (int d = 0; d < D; ++d) dst[d] = src[d] * dropout_scale<T>(drop, xrow * D + d);
  }
  // dpos[t] = sum_b masked dx[b, t]; each (t) row sums over b in order: deterministic.
#pragma omp parallel for schedule(static)
  for (int t = 0; t < Tn; ++t) {
    T* dst = dpos + size_t(t) * D;
    std::fill(dst, dst + D, T(0));
    for (int b = 0; b < B; ++b) {
      const size_t xrow = size_t(b) * Tn + t;
      const T* src = dx + xrow * D;
      for (int d = 0; d < D; ++d) dst[d] += src[d] * dropout_scale<T>(drop, xrow * D + d);
    }
  }
  // The class token is added at t = 0 only, so its gradient is dpos[0].
  std::copy(dpos, dpos + D, dcls);
}

// ---- normalisation / activations ----------------------------------------------------------------

template <class T>
void CpuBackend<T>::layernorm_fwd(T* y, T* mean, T* rstd, const T* x, const T* g, const T* b,
                                  int rows, int cols, T eps) {
#pragma omp parallel
  {
#ifdef _OPENMP
    census_note(omp_get_thread_num());
#endif
#pragma omp for schedule(static)
    for (int r = 0; r < rows; ++r)
      layernorm_row_fwd(y + size_t(r) * cols, mean + r, rstd + r, x + size_t(r) * cols, g, b, cols,
                        eps);
  }
}

template <class T>
void CpuBackend<T>::layernorm_bwd(T* dx, T* dg, T* db, const T* dy, const T* x, const T* mean,
                                  const T* rstd, const T* g, int rows, int cols,
                                  bool accumulate_dx) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r)
    layernorm_row_bwd_dx(dx + size_t(r) * cols, dy + size_t(r) * cols, x + size_t(r) * cols, g,
                         mean[r], rstd[r], cols, accumulate_dx);
  for_column_ranges(cols, [&](int c0, int c1) {
    T ag[16], ab[16];
    for (int c = 0; c < c1 - c0; ++c) ag[c] = ab[c] = T(0);
    for (int r = 0; r < rows; ++r) {
      const T* dyr = dy + size_t(r) * cols;
      const T* xr = x + size_t(r) * cols;
      for (int c = c0; c < c1; ++c) {
        ag[c - c0] += dyr[c] * (xr[c] - mean[r]) * rstd[r];
        ab[c - c0] += dyr[c];
      }
    }
    for (int c = c0; c < c1; ++c) {
      dg[c] = ag[c - c0];
      db[c] = ab[c - c0];
    }
  });
}


template <class T>
void CpuBackend<T>::residual_fwd(T* x_out, const T* x_in, const T* branch, size_t n,
                                 const DropoutSpec& drop) {
  masked_loop<T>(n, drop, [=](long long i, T m) { x_out[i] = x_in[i] + branch[i] * m; });
}

template <class T>
void CpuBackend<T>::dropout_bwd(T* dbranch, const T* dx, size_t n, const DropoutSpec& drop) {
  masked_loop<T>(n, drop, [=](long long i, T m) { dbranch[i] = dx[i] * m; });
}

// ---- attention (kernels in attention.cpp) ----------------------------------------------------

template <class T>
void CpuBackend<T>::attention_fwd(T* out, T* probs, const T* qkv, const AttnShape& s,
                                  const DropoutSpec& drop) {
  attention_forward(out, probs, qkv, s, drop);
}

template <class T>
void CpuBackend<T>::attention_bwd(T* dqkv, const T* dout, const T* qkv, const T* probs,
                                  const AttnShape& s, const DropoutSpec& drop) {
  attention_backward(dqkv, dout, qkv, probs, s, drop);
}

// ---- window attention with an additive bias ---------------------------------------------------
// Windows are short (Swin: 49 or 16 tokens), so plain loops per (sequence, head) suffice; each
// (b, h) is one task, summed in index order: deterministic for any thread count.

template <class T>
void CpuBackend<T>::attention_bias_fwd(T* out, T* probs, const T* qkv, const T* bias, int nb,
                                       const AttnShape& s) {
  const int N = s.Tn, H = s.H, hd = s.hd, D = H * hd;
  const T scale = T(1) / std::sqrt(T(hd));
  const long long tasks = (long long)s.B * H;
#pragma omp parallel for schedule(static)
  for (long long t = 0; t < tasks; ++t) {
    const int b = int(t / H), h = int(t % H);
    const T* base = qkv + size_t(b) * N * 3 * D;
    const T* bb = bias + (size_t(b % nb) * H + h) * N * N;
    T* P = probs + (size_t(b) * H + h) * N * N;
    for (int i = 0; i < N; ++i) {
      const T* q = base + size_t(i) * 3 * D + size_t(h) * hd;
      T* p = P + size_t(i) * N;
      T mx = -std::numeric_limits<T>::infinity();
      for (int j = 0; j < N; ++j) {
        const T* k = base + size_t(j) * 3 * D + D + size_t(h) * hd;
        T dot = T(0);
        for (int d = 0; d < hd; ++d) dot += q[d] * k[d];
        p[j] = dot * scale + bb[size_t(i) * N + j];
        mx = std::max(mx, p[j]);
      }
      T sum = T(0);
      for (int j = 0; j < N; ++j) {
        p[j] = std::exp(p[j] - mx);
        sum += p[j];
      }
      const T inv = T(1) / sum;
      for (int j = 0; j < N; ++j) p[j] *= inv;
      T* o = out + (size_t(b) * N + i) * D + size_t(h) * hd;
      for (int d = 0; d < hd; ++d) o[d] = T(0);
      for (int j = 0; j < N; ++j) {
        const T* v = base + size_t(j) * 3 * D + 2 * D + size_t(h) * hd;
        for (int d = 0; d < hd; ++d) o[d] += p[j] * v[d];
      }
    }
  }
}

template <class T>
void CpuBackend<T>::attention_bias_bwd(T* dqkv, T* dscores, const T* dout, const T* qkv,
                                       const T* probs, const AttnShape& s) {
  const int N = s.Tn, H = s.H, hd = s.hd, D = H * hd;
  const T scale = T(1) / std::sqrt(T(hd));
  const long long tasks = (long long)s.B * H;
#pragma omp parallel for schedule(static)
  for (long long t = 0; t < tasks; ++t) {
    const int b = int(t / H), h = int(t % H);
    const T* base = qkv + size_t(b) * N * 3 * D;
    T* dbase = dqkv + size_t(b) * N * 3 * D;
    const T* P = probs + (size_t(b) * H + h) * N * N;
    T* dS = dscores + (size_t(b) * H + h) * N * N;
    // this head's slices of dq, dk, dv: zeroed, then accumulated over i in index order
    for (int j = 0; j < N; ++j)
      for (int c = 0; c < 3; ++c)
        std::fill_n(dbase + size_t(j) * 3 * D + size_t(c) * D + size_t(h) * hd, hd, T(0));
    for (int i = 0; i < N; ++i) {
      const T* g = dout + (size_t(b) * N + i) * D + size_t(h) * hd;
      const T* p = P + size_t(i) * N;
      T* ds = dS + size_t(i) * N;
      T dot_pd = T(0);
      for (int j = 0; j < N; ++j) {
        const T* v = base + size_t(j) * 3 * D + 2 * D + size_t(h) * hd;
        T* dv = dbase + size_t(j) * 3 * D + 2 * D + size_t(h) * hd;
        T dp = T(0);
        for (int d = 0; d < hd; ++d) {
          dp += g[d] * v[d];
          dv[d] += p[j] * g[d];
        }
        ds[j] = dp;  // dP for now
        dot_pd += p[j] * dp;
      }
      const T* q = base + size_t(i) * 3 * D + size_t(h) * hd;
      T* dq = dbase + size_t(i) * 3 * D + size_t(h) * hd;
      for (int j = 0; j < N; ++j) {
        ds[j] = p[j] * (ds[j] - dot_pd);
        const T* k = base + size_t(j) * 3 * D + D + size_t(h) * hd;
        T* dk = dbase + size_t(j) * 3 * D + D + size_t(h) * hd;
        const T w = ds[j] * scale;
        for (int d = 0; d < hd; ++d) {
          dq[d] += w * k[d];
          dk[d] += w * q[d];
        }
      }
    }
  }
}

// ---- token rearrangement and pooling ---------------------------------------------------------

template <class T>
void CpuBackend<T>::gather_rows(T* Y, const T* X, const int32_t* idx, int rows, int cols) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r)
    std::copy(X + size_t(idx[r]) * cols, X + size_t(idx[r] + 1) * cols, Y + size_t(r) * cols);
}

template <class T>
void CpuBackend<T>::drop_path_fwd(T* x_out, const T* x_in, const T* branch, int B,
                                  size_t per_sample, const DropoutSpec& drop) {
  for (int b = 0; b < B; ++b) {
    const T m = dropout_scale<T>(drop, uint64_t(b));
    const long long n = (long long)per_sample, base = (long long)b * n;
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < n; ++i) x_out[base + i] = x_in[base + i] + m * branch[base + i];
  }
}

template <class T>
void CpuBackend<T>::drop_path_bwd(T* dbranch, const T* dx, int B, size_t per_sample,
                                  const DropoutSpec& drop) {
  for (int b = 0; b < B; ++b) {
    const T m = dropout_scale<T>(drop, uint64_t(b));
    const long long n = (long long)per_sample, base = (long long)b * n;
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < n; ++i) dbranch[base + i] = m * dx[base + i];
  }
}

template <class T>
void CpuBackend<T>::mean_tokens_fwd(T* out, const T* x, int B, int L, int D) {
  const T inv = T(1) / T(L);
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; ++b) {
    T* o = out + size_t(b) * D;
    std::fill(o, o + D, T(0));
    for (int l = 0; l < L; ++l) {
      const T* xr = x + (size_t(b) * L + l) * D;
      for (int d = 0; d < D; ++d) o[d] += xr[d];
    }
    for (int d = 0; d < D; ++d) o[d] *= inv;
  }
}

template <class T>
void CpuBackend<T>::mean_tokens_bwd(T* dx, const T* dout, int B, int L, int D) {
  const T inv = T(1) / T(L);
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; ++b)
    for (int l = 0; l < L; ++l) {
      T* d = dx + (size_t(b) * L + l) * D;
      const T* g = dout + size_t(b) * D;
      for (int j = 0; j < D; ++j) d[j] = g[j] * inv;
    }
}

// ---- head -------------------------------------------------------------------------------------

template <class T>
void CpuBackend<T>::gather_cls(T* out, const T* x, int B, int Tn, int D) {
  for (int b = 0; b < B; ++b) std::copy(x + size_t(b) * Tn * D, x + size_t(b) * Tn * D + D, out + size_t(b) * D);
}

template <class T>
void CpuBackend<T>::scatter_cls(T* dx, const T* dcls, int B, int Tn, int D) {
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; ++b) {
    T* dst = dx + size_t(b) * Tn * D;
    std::copy(dcls + size_t(b) * D, dcls + size_t(b + 1) * D, dst);
    std::fill(dst + D, dst + size_t(Tn) * D, T(0));
  }
}

template <class T>
void CpuBackend<T>::softmax_xent(T* dlogits, T* row_loss, uint8_t* row_correct, const T* logits,
                                 const int32_t* labels, int B, int C, T smoothing) {
  const T scale = T(1) / T(B);
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; ++b) {
    bool ok = false;
    row_loss[b] = softmax_xent_row(dlogits ? dlogits + size_t(b) * C : nullptr,
                                   logits + size_t(b) * C, labels[b], C, smoothing, scale, &ok);
    row_correct[b] = ok ? 1 : 0;
  }
}

// ---- flat-buffer passes (kernels in flat_ops.cpp) ---------------------------------------------

template <class T>
void CpuBackend<T>::loss_stats(double* out, const T* row_loss, const uint8_t* row_correct, int B) {
  double sum = 0, correct = 0;
  for (int b = 0; b < B; ++b) {  // index order: the same bits as a host-side sum
    sum += double(row_loss[b]);
    correct += row_correct[b] ? 1.0 : 0.0;
  }
  out[0] = sum;
  out[1] = correct;
}

template <class T>
void CpuBackend<T>::sum_squares(double* out, const T* x, size_t n) {
  *out = flat_sum_squares(x, n);
}

template <class T>
void CpuBackend<T>::gr_perturb(T* theta, T* saved, const T* g1, double r, const double* g1_sq,
                               size_t n) {
  flat_gr_perturb(theta, saved, g1, gr_scale(r, *g1_sq), n);
}

template <class T>
void CpuBackend<T>::gr_combine(T* g, const T* g1, double alpha, size_t n) {
  flat_gr_combine(g, g1, alpha, n);
}

template <class T>
void CpuBackend<T>::optim_update(T* theta, const T* g, T* s1, T* s2, T* s3, size_t n,
                                 const OptimStep& step, bool decay, const double* g_sq) {
  if (!update_allowed(*g_sq)) return;  // never write NaN/Inf into the parameters or the state
  OptimStep o = step;
  o.grad_scale = clip_scale(*g_sq, step.clip);
  flat_optim_update(theta, g, s1, s2, s3, n, o, decay);
}

// ---- timing and description -------------------------------------------------------------------

template <class T>
void CpuBackend<T>::mark(int slot) {
  if (slot < 0 || slot >= Backend<T>::kTimingMarks) throw std::out_of_range("cpu mark: slot out of range");
  marks_[slot] = std::chrono::steady_clock::now();
}

template <class T>
double CpuBackend<T>::elapsed_ms(int from, int to) {
  if (from < 0 || to < 0 || from >= Backend<T>::kTimingMarks || to >= Backend<T>::kTimingMarks)
    throw std::out_of_range("cpu elapsed_ms: slot out of range");
  return std::chrono::duration<double, std::milli>(marks_[to] - marks_[from]).count();
}

template <class T>
size_t CpuBackend<T>::memory_limit_bytes() const {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? size_t(pages) * size_t(page) : 0;
}

template <class T>
std::string CpuBackend<T>::describe() const {
  return "cpu: " + std::to_string(num_threads()) + " threads, " + GRWARM_ISA_NAME + " kernels, GEMM " +
         blas_name();
}

template class CpuBackend<float>;
template class CpuBackend<double>;

// ---- this variant's entry point (dispatch.cpp) ------------------------------------------------

namespace {
Backend<float>* make_f32() { return new CpuBackend<float>(); }
Backend<double>* make_f64() { return new CpuBackend<double>(); }
}  // namespace

const IsaKernels* isa_kernels() {
  static const IsaKernels k = {GRWARM_ISA_NAME, GRWARM_ISA_TARGET, make_f32, make_f64,
                               gemm_builtin<float>, gemm_builtin<double>};
  return &k;
}

}  // namespace grwarm::cpu::GRWARM_ISA_NS
