#include "memory.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "check.h"

namespace grwarm::cuda {

void* device_alloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // not sticky: the context stays usable
    throw std::bad_alloc();
  }
  check(e, "alloc");
  return p;
}

void device_free(void* p, cudaStream_t stream) noexcept {
  if (!p) return;
  if (stream) (void)cudaStreamSynchronize(stream);
  (void)cudaFree(p);
  (void)cudaGetLastError();
}

// ---- Staging ----------------------------------------------------------------------------

char* Staging::acquire(int i, size_t bytes) {
  if (!done_[i])
    check(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming), "staging event");
  check(cudaEventSynchronize(done_[i]), "staging wait");
  if (cap_[i] < bytes) {
    // Grow to the full chunk once a transfer needs more than a small buffer: pinned
    // allocations are slow, so avoid growing step by step.
    const size_t want = bytes > (size_t(64) << 10) ? kChunkBytes : size_t(64) << 10;
    if (buf_[i]) check(cudaFreeHost(buf_[i]), "staging free");
    buf_[i] = nullptr;
    cap_[i] = 0;
    void* p = nullptr;
    check(cudaHostAlloc(&p, want, cudaHostAllocDefault), "pinned staging alloc");
    buf_[i] = static_cast<char*>(p);
    cap_[i] = want;
  }
  return buf_[i];
}

void Staging::upload(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  for (size_t off = 0, k = 0; off < bytes; off += kChunkBytes, ++k) {
    const int i = int(k % 2);
    const size_t len = std::min(kChunkBytes, bytes - off);
    char* buf = acquire(i, len);
    std::memcpy(buf, s + off, len);
    check(cudaMemcpyAsync(d + off, buf, len, cudaMemcpyHostToDevice, stream), "upload");
    check(cudaEventRecord(done_[i], stream), "upload");
  }
}

void Staging::download(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  const size_t chunks = (bytes + kChunkBytes - 1) / kChunkBytes;
  auto issue = [&](size_t k) {
    const int i = int(k % 2);
    const size_t off = k * kChunkBytes, len = std::min(kChunkBytes, bytes - off);
    char* buf = acquire(i, len);
    check(cudaMemcpyAsync(buf, s + off, len, cudaMemcpyDeviceToHost, stream), "download");
    check(cudaEventRecord(done_[i], stream), "download");
  };
  if (chunks > 0) issue(0);
  for (size_t k = 0; k < chunks; ++k) {
    if (k + 1 < chunks) issue(k + 1);  // the next chunk's DMA overlaps this chunk's memcpy
    const int i = int(k % 2);
    const size_t off = k * kChunkBytes, len = std::min(kChunkBytes, bytes - off);
    check(cudaEventSynchronize(done_[i]), "download");
    std::memcpy(d + off, buf_[i], len);
  }
}

void Staging::release() noexcept {
  for (int i = 0; i < 2; ++i) {
    if (done_[i]) (void)cudaEventSynchronize(done_[i]);
    if (buf_[i]) (void)cudaFreeHost(buf_[i]);
    if (done_[i]) (void)cudaEventDestroy(done_[i]);
    buf_[i] = nullptr;
    cap_[i] = 0;
    done_[i] = nullptr;
  }
  (void)cudaGetLastError();
}

// ---- Workspace --------------------------------------------------------------------------

void* Workspace::get(Scratch slot, size_t bytes, cudaStream_t stream, const char* op) {
  const int s = int(slot);
  if (bytes <= cap_[s] && ptr_[s]) return ptr_[s];
  // Round up (1/8 headroom, whole MiB) so a slowly growing batch does not regrow every call.
  const size_t want = (std::max<size_t>(bytes + bytes / 8, 1) + (size_t(1) << 20) - 1) >> 20 << 20;
  device_free(ptr_[s], stream);
  ptr_[s] = nullptr;
  cap_[s] = 0;
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, want);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    throw std::runtime_error(std::string("cuda ") + op + ": out of device memory for " +
                             std::to_string(want >> 20) +
                             " MiB of scratch space; use a smaller batch");
  }
  check(e, op);
  ptr_[s] = p;
  cap_[s] = want;
  return p;
}

void Workspace::release(cudaStream_t stream) noexcept {
  for (int s = 0; s < int(Scratch::Count); ++s) {
    device_free(ptr_[s], stream);
    ptr_[s] = nullptr;
    cap_[s] = 0;
  }
}

}  // namespace grwarm::cuda
