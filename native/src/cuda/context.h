// Everything a CUDA backend holds besides the model's buffers: its device, its one stream,
// the cuBLAS handle bound to that stream, timing events, pinned staging and scratch space.
//
// All work of a backend runs on its one stream, so ops execute in the order they were issued
// and scratch buffers can be reused from op to op without further synchronisation.
#pragma once
#include <cuda_runtime_api.h>

#include <string>

#include "gemm.h"
#include "memory.h"

namespace grwarm::cuda {

// "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB), cuBLAS 13.0.2 from libcublas.so.13"
std::string device_summary(int device, const CublasApi& api);

class Context {
 public:
  static constexpr int kMarks = 8;  // Backend<T>::kTimingMarks

  // Creates the stream, events and cuBLAS handle on `device`; throws std::runtime_error.
  Context(int device, const CublasApi& api);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Makes the backend's device current on the calling thread. The CUDA runtime's current
  // device is per thread and the addon calls ops from worker threads, so every op binds
  // before it launches anything (a no-op when the device already is current).
  void bind() const;

  cudaStream_t stream() const { return stream_; }
  const Blas& blas() const { return blas_; }
  Workspace& workspace() { return workspace_; }
  Staging& staging() { return staging_; }
  // What the model may still plan for: the device's free memory now (cudaMemGetInfo, so the
  // CUDA context, cuBLAS's workspace, other processes and this model's own buffers are already
  // out of it) less what the backend may yet allocate itself (kReservedDeviceBytes). 0 when
  // the device cannot say (the allocation itself then reports out of memory).
  size_t memory_limit() const;
  const std::string& summary() const { return summary_; }

  void synchronize();
  void mark(int slot);
  double elapsed_ms(int from, int to);

 private:
  void release() noexcept;

  int device_;
  cudaStream_t stream_ = nullptr;
  Blas blas_{nullptr, nullptr};
  cudaEvent_t marks_[kMarks] = {};
  Workspace workspace_;
  Staging staging_;
  std::string summary_;
};

}  // namespace grwarm::cuda
