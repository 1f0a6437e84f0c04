// The CUDA runtime API and device-side language, as far as the plugin uses them, for the CPU
// emulation of the CUDA execution model (docs/cuda-emulation.md).
//
// The plugin's .cu files are compiled by g++ after a build-time rewrite (rewrite.cmake) that
// turns `kernel<<<grid, block, shmem, stream>>>(args)` into gw_emu::launch(...)(args) and
// `__shared__ T name[...]` into per-block storage. Everything else in the sources stays as
// nvcc sees it: the names below (threadIdx, __syncthreads, __shfl_xor_sync, ...) behave as on
// a GPU, with each CUDA thread of a block running as a fiber (runtime.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#define CUDART_VERSION 13000

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define GW_EMU_API __attribute__((visibility("default")))

// ---- runtime types ---------------------------------------------------------------------------
enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major;
  int minor;
  int multiProcessorCount;
};

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

extern "C" {
GW_EMU_API cudaError_t cudaGetDeviceCount(int* count);
GW_EMU_API cudaError_t cudaDriverGetVersion(int* version);
GW_EMU_API cudaError_t cudaRuntimeGetVersion(int* version);
GW_EMU_API cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
GW_EMU_API cudaError_t cudaSetDevice(int device);
GW_EMU_API cudaError_t cudaGetDevice(int* device);
GW_EMU_API cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
GW_EMU_API cudaError_t cudaMalloc(void** p, size_t bytes);
GW_EMU_API cudaError_t cudaFree(void* p);
GW_EMU_API cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned flags);
GW_EMU_API cudaError_t cudaFreeHost(void* p);
GW_EMU_API cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
GW_EMU_API cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes,
                                       cudaMemcpyKind kind, cudaStream_t stream);
GW_EMU_API cudaError_t cudaStreamCreate(cudaStream_t* s);
GW_EMU_API cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
GW_EMU_API cudaError_t cudaStreamDestroy(cudaStream_t s);
GW_EMU_API cudaError_t cudaStreamSynchronize(cudaStream_t s);
GW_EMU_API cudaError_t cudaDeviceSynchronize(void);
GW_EMU_API cudaError_t cudaEventCreate(cudaEvent_t* e);
GW_EMU_API cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
GW_EMU_API cudaError_t cudaEventDestroy(cudaEvent_t e);
GW_EMU_API cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
GW_EMU_API cudaError_t cudaEventSynchronize(cudaEvent_t e);
GW_EMU_API cudaError_t cudaEventQuery(cudaEvent_t e);
GW_EMU_API cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t from, cudaEvent_t to);
GW_EMU_API cudaError_t cudaGetLastError(void);
GW_EMU_API cudaError_t cudaPeekAtLastError(void);
GW_EMU_API const char* cudaGetErrorString(cudaError_t e);
GW_EMU_API const char* cudaGetErrorName(cudaError_t e);
}

// ---- device side -----------------------------------------------------------------------------
namespace gw_emu {

// What a CUDA thread can ask about itself and its block; set by the scheduler at each switch.
struct ThreadCtx {
  uint3 thread_idx;
};
struct BlockCtx {
  uint3 block_idx;
  dim3 block_dim, grid_dim;
};
GW_EMU_API extern thread_local ThreadCtx* t_thread;
GW_EMU_API extern thread_local BlockCtx* t_block;

enum class Shfl : int { Xor, Down, Up, Idx, Ballot };  // Ballot: the mask's lanes with a nonzero value
GW_EMU_API void syncthreads();
GW_EMU_API uint64_t shuffle(uint64_t bits, Shfl kind, unsigned mask, int arg, int width);
GW_EMU_API void* shared_storage(const void* key, size_t bytes, size_t align);

// `__shared__ T name[dims]` becomes `auto& name = *gw_emu::shared<T[dims]>([] {})`: the lambda
// gives each declaration its own key; every thread of a block gets the same storage.
template <class A, class Site>
A* shared(Site) {
  static const char key = 0;
  return static_cast<A*>(shared_storage(&key, sizeof(A), alignof(A)));
}

// One launch: the kernel as a callable, the configuration, and (through operator()) the
// arguments, evaluated once on the host as on a GPU and copied into each thread's call.
GW_EMU_API void launch_erased(const char* kernel, const char* file, int line, dim3 grid,
                              dim3 block, size_t shmem, cudaStream_t stream,
                              std::function<void()> thread_body);

template <class K>
struct Launch {
  const char* name;
  const char* file;
  int line;
  K kernel;
  dim3 grid, block;
  size_t shmem;
  cudaStream_t stream;
  template <class... A>
  void operator()(A&&... a) const {
    auto args = std::make_shared<std::tuple<std::decay_t<A>...>>(std::forward<A>(a)...);
    K k = kernel;
    launch_erased(name, file, line, grid, block, shmem, stream, [k, args] { std::apply(k, *args); });
  }
};

template <class K>
Launch<K> launch(const char* name, const char* file, int line, K kernel, dim3 grid, dim3 block,
                 size_t shmem = 0, cudaStream_t stream = nullptr) {
  return Launch<K>{name, file, line, kernel, grid, block, shmem, stream};
}

template <class T>
T shuffle_value(T v, Shfl kind, unsigned mask, int arg, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a large type");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof v);
  b = shuffle(b, kind, mask, arg, width);
  std::memcpy(&v, &b, sizeof v);
  return v;
}

}  // namespace gw_emu

#define threadIdx (::gw_emu::t_thread->thread_idx)
#define blockIdx (::gw_emu::t_block->block_idx)
#define blockDim (::gw_emu::t_block->block_dim)
#define gridDim (::gw_emu::t_block->grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { ::gw_emu::syncthreads(); }
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return ::gw_emu::shuffle_value(v, ::gw_emu::Shfl::Xor, mask, lane_mask, width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::gw_emu::shuffle_value(v, ::gw_emu::Shfl::Down, mask, int(delta), width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::gw_emu::shuffle_value(v, ::gw_emu::Shfl::Up, mask, int(delta), width);
}
template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  return ::gw_emu::shuffle_value(v, ::gw_emu::Shfl::Idx, mask, src_lane, width);
}

// Warp votes and __syncwarp: every lane of the mask must arrive, like a shuffle.
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return unsigned(::gw_emu::shuffle(pred != 0, ::gw_emu::Shfl::Ballot, mask, 0, 32));
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }
inline void __syncwarp(unsigned mask = 0xffffffffu) { (void)__ballot_sync(mask, 0); }

// Atomics: the lanes of a block are fibers switched only at barriers and warp operations, and
// blocks run one at a time, so a read-modify-write is never interleaved with another thread's.
template <class T>
T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <class T>
T atomicSub(T* p, T v) {
  const T old = *p;
  *p = old - v;
  return old;
}
template <class T>
T atomicMax(T* p, T v) {
  const T old = *p;
  *p = old < v ? v : old;
  return old;
}
template <class T>
T atomicMin(T* p, T v) {
  const T old = *p;
  *p = v < old ? v : old;
  return old;
}
template <class T>
T atomicExch(T* p, T v) {
  const T old = *p;
  *p = v;
  return old;
}
template <class T>
T atomicCAS(T* p, T expected, T v) {
  const T old = *p;
  if (old == expected) *p = v;
  return old;
}
template <class T>
T __ldg(const T* p) {
  return *p;
}
inline float rsqrtf(float x) { return 1.0f / __builtin_sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / __builtin_sqrt(x); }

// CUDA's integer and floating min/max overloads of device code.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return __builtin_fminf(a, b); }
inline float max(float a, float b) { return __builtin_fmaxf(a, b); }
inline double min(double a, double b) { return __builtin_fmin(a, b); }
inline double max(double a, double b) { return __builtin_fmax(a, b); }
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
