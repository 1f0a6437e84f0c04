#include "context.h"

#include <cstdio>
#include <stdexcept>

#include "check.h"

namespace grwarm::cuda {

std::string device_summary(int device, const CublasApi& api) {
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device), "device properties");
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %.0f GiB), cuBLAS %s from %s", prop.name,
                prop.major, prop.minor, double(prop.totalGlobalMem) / double(1ull << 30),
                cublas_version_string(api).c_str(), api.origin.c_str());
  return buf;
}

Context::Context(int device, const CublasApi& api) : device_(device) {
  try {
    check(cudaSetDevice(device), "set device");
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, device), "device properties");
    // Non-blocking: never implicitly ordered with the legacy default stream, which other code
    // in the process (another library) might use.
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream");
    for (cudaEvent_t& e : marks_) check(cudaEventCreate(&e), "timing event");
    blas_.api = &api;
    blas::Status s = api.create(&blas_.handle);
    if (s != blas::kSuccess) {
      blas_.handle = nullptr;
      throw std::runtime_error(std::string("cuda cublasCreate: ") + blas::status_name(s));
    }
    s = api.set_stream(blas_.handle, stream_);
    if (s == blas::kSuccess)
      // Plain IEEE fp32 products: TF32 tensor-core math would round GEMM inputs to 10-bit
      // mantissas and the CUDA backend would no longer agree with the CPU backend.
      s = api.set_math_mode(blas_.handle, blas::kDefaultMath);
    if (s != blas::kSuccess)
      throw std::runtime_error(std::string("cuda cuBLAS setup: ") + blas::status_name(s));
    summary_ = device_summary(device, api);
  } catch (...) {
    release();
    throw;
  }
}

Context::~Context() { release(); }

void Context::release() noexcept {
  (void)cudaSetDevice(device_);
  if (stream_) (void)cudaStreamSynchronize(stream_);
  workspace_.release(stream_);
  staging_.release();
  if (blas_.handle) (void)blas_.api->destroy(blas_.handle);
  blas_.handle = nullptr;
  for (cudaEvent_t& e : marks_) {
    if (e) (void)cudaEventDestroy(e);
    e = nullptr;
  }
  if (stream_) (void)cudaStreamDestroy(stream_);
  stream_ = nullptr;
  (void)cudaGetLastError();
}

void Context::bind() const {
  int current = -1;
  if (cudaGetDevice(&current) != cudaSuccess || current != device_)
    check(cudaSetDevice(device_), "set device");
}

size_t Context::memory_limit() const {
  size_t free_bytes = 0, total_bytes = 0;
  int current = -1;
  if (cudaGetDevice(&current) != cudaSuccess || current != device_) (void)cudaSetDevice(device_);
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return free_bytes > kReservedDeviceBytes ? free_bytes - kReservedDeviceBytes : 1;
}

void Context::synchronize() {
  bind();
  check(cudaStreamSynchronize(stream_), "synchronize");
}

void Context::mark(int slot) {
  if (slot < 0 || slot >= kMarks) throw std::out_of_range("cuda mark: slot out of range");
  bind();
  check(cudaEventRecord(marks_[slot], stream_), "mark");
}

double Context::elapsed_ms(int from, int to) {
  if (from < 0 || to < 0 || from >= kMarks || to >= kMarks)
    throw std::out_of_range("cuda elapsed_ms: slot out of range");
  bind();
  check(cudaEventSynchronize(marks_[to]), "elapsed_ms");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, marks_[from], marks_[to]), "elapsed_ms");
  return double(ms);
}

}  // namespace grwarm::cuda
