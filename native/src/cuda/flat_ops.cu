// Whole-model passes over the flat parameter / gradient / optimizer-state buffers.
//
// Compiled with -fmad=false like every kernel (cmake/cuda.cmake): the GR and optimizer formulas of
// grwarm/optim.h must round like the CPU's flat passes (built with -ffp-contract=off) and the
// JS arithmetic of the unfused GR step, and a fused multiply-add rounds differently. With it,
// gr_perturb, gr_combine and optim_update give the CPU's bits element for element (CUDA's
// default division and sqrt are correctly rounded, like the host's).
//
// The per-step scalars (||g1||^2, ||g||^2) stay in device memory: the kernels read them
// there, so a GR step never waits for a host round trip between its phases.
#include "common.cuh"
#include "check.h"
#include "kernels.h"

namespace grwarm::cuda {

namespace {

// ---- sum of squares: two deterministic stages --------------------------------------------
// Stage 1: one block per kSumSquaresChunk elements (the CPU's chunks); thread t adds elements
// t, t + 256, ... of the chunk in double, then a fixed tree adds the threads. Stage 2: one
// block adds the chunk partials (thread t: partials t, t + 1024, ..., then a fixed tree).
// The CPU adds each chunk left to right and the chunks in index order, so results agree to
// about 1e-15 relative, not bitwise; on one GPU they are the same bits every run.
constexpr int kSsqThreads = 256, kSsqFinishThreads = 1024;

template <class T>
__global__ void sum_squares_partials_kernel(double* partial, const T* x, size_t n) {
  __shared__ double sh[kSsqThreads];
  const size_t i0 = size_t(blockIdx.x) * kSumSquaresChunk;
  const size_t i1 = i0 + kSumSquaresChunk < n ? i0 + kSumSquaresChunk : n;
  double s = 0;
  for (size_t i = i0 + threadIdx.x; i < i1; i += kSsqThreads) {
    const double v = double(x[i]);
    s += v * v;
  }
  s = block_sum_fixed<kSsqThreads>(s, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sum_squares_finish_kernel(double* out, const double* partial, size_t chunks) {
  __shared__ double sh[kSsqFinishThreads];
  double s = 0;
  for (size_t c = threadIdx.x; c < chunks; c += kSsqFinishThreads) s += partial[c];
  s = block_sum_fixed<kSsqFinishThreads>(s, sh);
  if (threadIdx.x == 0) *out = s;
}

// ---- GR ---------------------------------------------------------------------------------

template <class T>
__global__ void gr_perturb_kernel(T* theta, T* saved, const T* g1, double r, const double* g1_sq,
                                  size_t n) {
  const double scale = gr_scale(r, *g1_sq);  // r / (||g1|| + 1e-12), once per thread
  GW_GRID_STRIDE(i, n) {
    const T th = theta[i];
    saved[i] = th;
    theta[i] = gr_perturbed(th, g1[i], scale);
  }
}

template <class T>
__global__ void gr_combine_kernel(T* g, const T* g1, double c1, double alpha, size_t n) {
  GW_GRID_STRIDE(i, n) g[i] = gr_combined(g1[i], g[i], c1, alpha);
}

// ---- optimizer --------------------------------------------------------------------------

template <class T>
__global__ void optim_update_kernel(T* theta, const T* g, T* s1, T* s2, T* s3, size_t n,
                                    OptimStep step, bool decay, const double* g_sq) {
  const double norm_sq = *g_sq;
  // A non-finite gradient norm skips the update: NaN/Inf never reach weights or state.
  if (!update_allowed(norm_sq)) return;
  step.grad_scale = clip_scale(norm_sq, step.clip);
  GW_GRID_STRIDE(i, n) {
    // Unused state slots are null (SGD has no s2, plain RMSProp no s3); the formula never
    // reads the slots its optimizer does not use, so a zero stands in for them.
    T th = theta[i];
    T a = s1 ? s1[i] : T(0), b = s2 ? s2[i] : T(0), c = s3 ? s3[i] : T(0);
    optim_update(th, g[i], a, b, c, step, decay);
    theta[i] = th;
    if (s1) s1[i] = a;
    if (s2) s2[i] = b;
    if (s3) s3[i] = c;
  }
}

}  // namespace

template <class T>
void launch_sum_squares(cudaStream_t s, Workspace& ws, double* out, const T* x, size_t n) {
  const size_t chunks = (n + kSumSquaresChunk - 1) / kSumSquaresChunk;
  double* partial = nullptr;
  if (chunks > 0) {
    partial = static_cast<double*>(
        ws.get(Scratch::Partials, chunks * sizeof(double), s, "sum_squares"));
    sum_squares_partials_kernel<<<unsigned(chunks), kSsqThreads, 0, s>>>(partial, x, n);
    check_launch("sum_squares");
  }
  sum_squares_finish_kernel<<<1, kSsqFinishThreads, 0, s>>>(out, partial, chunks);
  check_launch("sum_squares");
}

template <class T>
void launch_gr_perturb(cudaStream_t s, T* theta, T* saved, const T* g1, double r,
                       const double* g1_sq, size_t n) {
  if (n == 0) return;
  gr_perturb_kernel<<<flat_blocks(n), kThreads, 0, s>>>(theta, saved, g1, r, g1_sq, n);
  check_launch("gr_perturb");
}

template <class T>
void launch_gr_combine(cudaStream_t s, T* g, const T* g1, double alpha, size_t n) {
  if (n == 0) return;
  const double c1 = 1.0 - alpha;  // as the CPU forms it
  gr_combine_kernel<<<flat_blocks(n), kThreads, 0, s>>>(g, g1, c1, alpha, n);
  check_launch("gr_combine");
}

template <class T>
void launch_optim_update(cudaStream_t s, T* theta, const T* g, T* s1, T* s2, T* s3, size_t n,
                         const OptimStep& step, bool decay, const double* g_sq) {
  if (n == 0) return;
  optim_update_kernel<<<flat_blocks(n), kThreads, 0, s>>>(theta, g, s1, s2, s3, n, step, decay,
                                                          g_sq);
  check_launch("optim_update");
}

#define GW_INSTANTIATE(T)                                                                      \
  template void launch_sum_squares<T>(cudaStream_t, Workspace&, double*, const T*, size_t);   \
  template void launch_gr_perturb<T>(cudaStream_t, T*, T*, const T*, double, const double*,    \
                                     size_t);                                                  \
  template void launch_gr_combine<T>(cudaStream_t, T*, const T*, double, size_t);              \
  template void launch_optim_update<T>(cudaStream_t, T*, const T*, T*, T*, T*, size_t,         \
                                       const OptimStep&, bool, const double*);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)
#undef GW_INSTANTIATE

}  // namespace grwarm::cuda
