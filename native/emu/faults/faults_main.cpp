// grwarm_emu_faults <fault>: runs one planted fault (faults.cu) on the emulator and prints what
// the emulator said, one line per observation. test/cuda-emu.test.ts runs each in its own
// process (a device fault is sticky for the rest of a process, as on a GPU).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../src/cuda/cublas_api.h"
#include "faults.h"

namespace blas = grwarm::cuda::blas;

extern "C" {
blas::Status cublasCreate_v2(blas::Handle*);
blas::Status cublasSgemm_v2(blas::Handle, blas::Operation, blas::Operation, int, int, int,
                            const float*, const float*, int, const float*, int, const float*,
                            float*, int);
}

namespace {

void say(const char* what, cudaError_t e) {
  std::printf("%s: %s: %s\n", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

float* dev(size_t n) {
  void* p = nullptr;
  if (cudaMalloc(&p, n * sizeof(float)) != cudaSuccess) std::printf("cudaMalloc failed\n");
  return static_cast<float*>(p);
}

float get(const float* d) {
  float v = 0;
  cudaMemcpy(&v, d, sizeof v, cudaMemcpyDeviceToHost);
  return v;
}

void upload(float* d, const std::vector<float>& h) {
  cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice);
}

int run(const std::string& f) {
  float* out = dev(1024);
  if (f == "shuffle-after-return") gw_faults::shuffle_after_return(out);
  else if (f == "divergent-barrier") gw_faults::divergent_barrier(out);
  else if (f == "deadlock") gw_faults::deadlock(out);
  else if (f == "absent-lane") gw_faults::absent_lane(out);
  else if (f == "big-shared") gw_faults::big_shared(out);
  else if (f == "too-many-threads" || f == "grid-y") {
    if (f == "too-many-threads") gw_faults::too_many_threads(out, 1024);
    else gw_faults::grid_y_too_large(out, 1024);
    say("launch", cudaGetLastError());
    gw_faults::fill(out, 1024, nullptr);  // not sticky: the next launch works
    say("next launch", cudaDeviceSynchronize());
    std::printf("value: %g\n", get(out));
    return 0;
  } else if (f == "write-past-end") {
    cudaStream_t s;
    cudaStreamCreate(&s);
    float* buf = dev(1000);
    gw_faults::write_past_end(buf, 1000, s);
    say("launch", cudaGetLastError());  // fine: the fault happens when the kernel runs
    say("synchronize", cudaStreamSynchronize(s));
    void* p = nullptr;
    say("sticky", cudaMalloc(&p, 16));
    return 0;
  } else if (f == "gemm-no-swap") {
    // Row-major C[M,N] = A[M,K] B[K,N] handed to column-major cuBLAS as it is (no operand swap).
    const int M = 8, N = 4, K = 3;
    float *A = dev(M * K), *B = dev(K * N), *C = dev(M * N);
    blas::Handle h;
    cublasCreate_v2(&h);
    const float one = 1, zero = 0;
    const blas::Status wrong = cublasSgemm_v2(h, blas::kOpN, blas::kOpN, M, N, K, &one, A, K, B, N, &zero, C, N);
    const blas::Status right = cublasSgemm_v2(h, blas::kOpN, blas::kOpN, N, M, K, &one, B, N, A, K, &zero, C, N);
    std::printf("unswapped: %s\nswapped: %s\n", blas::status_name(wrong), blas::status_name(right));
    return 0;
  } else if (f == "missing-barrier") {
    std::vector<float> x(256);
    for (int i = 0; i < 256; ++i) x[size_t(i)] = float(i % 7);
    float expect = 0;
    for (float v : x) expect += v;
    float* dx = dev(256);
    upload(dx, x);
    gw_faults::block_sum(out, dx);
    const float good = get(out);
    gw_faults::missing_barrier_sum(out, dx);
    const float bad = get(out);
    std::printf("expected %g, with barrier %g, without %g\n", expect, good, bad);
    return 0;
  } else if (f == "uninitialised") {
    float* in = dev(300);
    gw_faults::copy(out, in, 300);
    std::printf("read of unwritten memory: %g\n", get(out + 299));
    return 0;
  } else if (f == "no-stream-sync") {
    cudaStream_t s;
    cudaStreamCreate(&s);
    void* host = nullptr;
    cudaHostAlloc(&host, 1024 * sizeof(float), cudaHostAllocDefault);
    float* h = static_cast<float*>(host);
    gw_faults::fill(out, 1024, s);
    cudaMemcpyAsync(h, out, 1024 * sizeof(float), cudaMemcpyDeviceToHost, s);
    std::printf("before synchronize: %g\n", h[0]);
    cudaStreamSynchronize(s);
    std::printf("after synchronize: %g\n", h[0]);
    return 0;
  } else if (f == "warp-ops") {
    void *o = nullptr, *c = nullptr;
    cudaMalloc(&o, 2 * sizeof(unsigned));
    cudaMalloc(&c, sizeof(int));
    const int zero = 0;
    cudaMemcpy(c, &zero, sizeof zero, cudaMemcpyHostToDevice);
    gw_faults::warp_ops(static_cast<unsigned*>(o), static_cast<int*>(c));
    unsigned h[2] = {0, 0};
    int count = 0;
    say("synchronize", cudaDeviceSynchronize());
    cudaMemcpy(h, o, sizeof h, cudaMemcpyDeviceToHost);
    cudaMemcpy(&count, c, sizeof count, cudaMemcpyDeviceToHost);
    std::printf("ballot 0x%08x, all %u, atomic sum %d\n", h[0], h[1], count);
    return 0;
  } else {
    std::fprintf(stderr, "unknown fault %s\n", f.c_str());
    return 2;
  }
  say("launch", cudaGetLastError());
  say("synchronize", cudaDeviceSynchronize());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: grwarm_emu_faults <fault>\n");
    return 2;
  }
  return run(argv[1]);
}
