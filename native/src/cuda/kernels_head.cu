// The classification head's loss: softmax cross-entropy per row and the batch statistics.
#include "common.cuh"
#include "check.h"
#include "grwarm/softmax_xent_row.h"
#include "kernels.h"

namespace grwarm::cuda {

namespace {

// One thread per row runs the shared row function itself (grwarm/softmax_xent_row.h), in the
// same sequential order as the CPU: the loss, the correct flag (first maximum wins) and
// dlogits agree with the CPU backend's up to FMA contraction. A batch has at most a few
// thousand rows of at most a few thousand classes, so this op is never a bottleneck.
template <class T>
__global__ void softmax_xent_kernel(T* dlogits, T* row_loss, uint8_t* row_correct,
                                    const T* logits, const int32_t* labels, int B, int C,
                                    T smoothing, T grad_scale) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  bool ok = false;
  row_loss[b] = softmax_xent_row(dlogits ? dlogits + size_t(b) * C : nullptr,
                                 logits + size_t(b) * C, labels[b], C, smoothing, grad_scale, &ok);
  row_correct[b] = ok ? 1 : 0;
}

// out[0] = sum of row losses (double), out[1] = count of correct rows. One block: thread t
// adds rows t, t + 256, ... in order, then a fixed tree adds the threads. Deterministic; the
// loss sum may differ from the CPU's index-order sum in the last bits, the count is exact.
constexpr int kStatsThreads = 256;

template <class T>
__global__ void loss_stats_kernel(double* out, const T* row_loss, const uint8_t* row_correct,
                                  int B) {
  __shared__ double sh_loss[kStatsThreads], sh_correct[kStatsThreads];
  double loss = 0, correct = 0;
  for (int b = threadIdx.x; b < B; b += kStatsThreads) {
    loss += double(row_loss[b]);
    correct += row_correct[b] ? 1.0 : 0.0;
  }
  loss = block_sum_fixed<kStatsThreads>(loss, sh_loss);
  correct = block_sum_fixed<kStatsThreads>(correct, sh_correct);
  if (threadIdx.x == 0) {
    out[0] = loss;
    out[1] = correct;
  }
}

}  // namespace

template <class T>
void launch_softmax_xent(cudaStream_t s, T* dlogits, T* row_loss, uint8_t* row_correct,
                         const T* logits, const int32_t* labels, int B, int C, T smoothing) {
  if (B <= 0) return;
  const T grad_scale = T(1) / T(B);  // d(mean loss): as the CPU computes it
  constexpr int kRowThreads = 64;    // few rows: small blocks spread them over more SMs
  softmax_xent_kernel<<<(B + kRowThreads - 1) / kRowThreads, kRowThreads, 0, s>>>(
      dlogits, row_loss, row_correct, logits, labels, B, C, smoothing, grad_scale);
  check_launch("softmax_xent");
}

template <class T>
void launch_loss_stats(cudaStream_t s, double* out, const T* row_loss, const uint8_t* row_correct,
                       int B) {
  loss_stats_kernel<<<1, kStatsThreads, 0, s>>>(out, row_loss, row_correct, B);
  check_launch("loss_stats");
}

#define GW_INSTANTIATE(T)                                                                      \
  template void launch_softmax_xent<T>(cudaStream_t, T*, T*, uint8_t*, const T*, const int32_t*, \
                                       int, int, T);                                           \
  template void launch_loss_stats<T>(cudaStream_t, double*, const T*, const uint8_t*, int);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)
#undef GW_INSTANTIATE

}  // namespace grwarm::cuda
