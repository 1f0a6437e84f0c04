// Turning CUDA runtime errors into exceptions.
//
// Every failing CUDA call becomes std::runtime_error("cuda <op>: <cudaGetErrorString>"): the
// plugin runs inside a Node process, so it must never exit or abort, and the message names the
// op that saw the error (an asynchronous kernel fault surfaces at the next call that checks).
#pragma once
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace grwarm::cuda {

[[noreturn]] inline void throw_cuda(const char* op, cudaError_t e) {
  // Reset the runtime's "last error" so a non-sticky failure (a bad launch configuration, say)
  // is not reported again by the next, unrelated check. Sticky errors stay regardless.
  (void)cudaGetLastError();
  throw std::runtime_error(std::string("cuda ") + op + ": " + cudaGetErrorString(e));
}

inline void check(cudaError_t e, const char* op) {
  if (e != cudaSuccess) throw_cuda(op, e);
}

// After a kernel launch: catches launch-configuration errors at once (cheap, no sync).
inline void check_launch(const char* op) { check(cudaGetLastError(), op); }

}  // namespace grwarm::cuda
