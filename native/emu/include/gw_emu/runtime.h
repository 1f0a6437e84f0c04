// The emulator's own interface, beyond the CUDA API: for the stand-in cuBLAS (cublas.cpp) and
// the fault tests (faults/). Not seen by the plugin's sources.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "cuda.h"

namespace gw_emu {

// Whether [p, p + bytes) lies inside one live device allocation; if not, *why says how not.
GW_EMU_API bool device_range(const void* p, size_t bytes, std::string* why);

// Queues host work (a cuBLAS product) on `stream`: it runs at the next synchronisation point
// that covers it, in stream order with the kernels around it.
GW_EMU_API void enqueue(cudaStream_t stream, const char* what, std::function<void()> work);

// GRWARM_EMU_BLAS=check: check cuBLAS arguments, compute nothing (the full-size plumbing run).
GW_EMU_API bool blas_compute();
GW_EMU_API void count_blas_call();

// What ran: for the test summary (also written to $GRWARM_EMU_STATS at exit).
struct Stats {
  uint64_t launches, blocks, threads, blas_calls;
};
GW_EMU_API Stats stats();

}  // namespace gw_emu
