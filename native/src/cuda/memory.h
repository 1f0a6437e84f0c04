// Device memory, host transfers and backend-owned scratch space.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>

namespace grwarm::cuda {

// cudaMalloc of at least one byte. Out of memory: clears the runtime's error state and throws
// std::bad_alloc, so the caller (the model) can release what it planned and carry on with a
// smaller batch. Any other failure throws std::runtime_error.
void* device_alloc(size_t bytes);

// Waits for `stream` (a pending op may still read p), then cudaFree. Never throws: it runs
// from destructors; a failure here means the context is already broken, and the next op that
// checks reports that.
void device_free(void* p, cudaStream_t stream) noexcept;

// Host <-> device copies through two pinned staging buffers.
//
// Pageable host memory cannot be copied asynchronously, so data passes through page-locked
// buffers, in chunks of at most kChunkBytes, alternating between the two buffers so that the
// host copy of one chunk overlaps the DMA of the other. The host only touches a buffer after
// the event recorded behind the last async copy that used it has fired.
class Staging {
 public:
  static constexpr size_t kChunkBytes = size_t(8) << 20;

  Staging() = default;
  ~Staging() { release(); }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

  // Stream-ordered: returns once the source has been copied out of `src`, possibly before
  // the data reaches the device.
  void upload(void* dst, const void* src, size_t bytes, cudaStream_t stream);
  // Waits for every op queued before it on `stream`, then for the copy.
  void download(void* dst, const void* src, size_t bytes, cudaStream_t stream);
  void release() noexcept;

 private:
  // Buffer i, grown to at least `bytes` (bytes <= kChunkBytes) and free for the host to use.
  char* acquire(int i, size_t bytes);

  char* buf_[2] = {nullptr, nullptr};
  size_t cap_[2] = {0, 0};
  cudaEvent_t done_[2] = {nullptr, nullptr};
};

// Scratch buffers owned by the backend (reduction partials, attention intermediates). Each
// slot only grows; it is reused by every op on the backend's single stream, so stream order
// alone keeps uses apart.
enum class Scratch : int {
  Partials,      // column-sum and sum-of-squares partial results
  AttnHeads,     // q, k, v of a chunk of sequences, one head per contiguous [Tn, hd] block
  AttnHeadsAux,  // the attention output (forward); dout and dq, dk, dv (backward)
  AttnSquareA,   // [heads, Tn, Tn]: dropped probs (forward), dS (backward)
  AttnSquareB,   // [heads, Tn, Tn]: dropped probs (backward)
  Count
};

// Attention processes sequences in chunks whose scratch (the Attn* slots together) stays
// under this many bytes, whatever the batch size (attention.cu).
constexpr size_t kAttentionScratchBytes = size_t(256) << 20;

// Device memory the model should not plan for, kept back from the device's free memory
// (Context::memory_limit): the attention scratch above, reduction partials, cuBLAS's
// workspace growth and slack.
constexpr size_t kReservedDeviceBytes = kAttentionScratchBytes + (size_t(512) << 20);

class Workspace {
 public:
  Workspace() = default;
  ~Workspace() { release(nullptr); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // A buffer of at least `bytes` for `slot`. Growing waits for `stream` first: ops queued
  // earlier may still be reading the old buffer. Out of memory throws std::runtime_error
  // naming `op` (a mid-step failure is not the model's planned allocation).
  void* get(Scratch slot, size_t bytes, cudaStream_t stream, const char* op);
  void release(cudaStream_t stream) noexcept;

 private:
  void* ptr_[int(Scratch::Count)] = {};
  size_t cap_[int(Scratch::Count)] = {};
};

}  // namespace grwarm::cuda
