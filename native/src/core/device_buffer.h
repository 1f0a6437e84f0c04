// One backend allocation owned by the object that holds it (RAII), like Arena's block: freed
// by the destructor, moved but never copied, so no hand-kept list of pointers to free.
#pragma once
#include <cstddef>
#include <utility>

#include "backend.h"

namespace grwarm {

// n elements of U in the memory of a Backend<T>. Converts to U* so that views (`buf + off`)
// read like raw pointers; the buffer itself never changes hands except by move.
template <class T, class U = T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // Throws std::bad_alloc (from the backend) and then owns nothing.
  DeviceBuffer(Backend<T>* be, size_t n)
      : be_(be), p_(static_cast<U*>(be->alloc_bytes(n * sizeof(U)))) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : be_(o.be_), p_(std::exchange(o.p_, nullptr)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      be_ = o.be_;
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  void reset() {
    if (p_) be_->free_bytes(p_);
    p_ = nullptr;
  }
  U* get() const { return p_; }
  operator U*() const { return p_; }

 private:
  Backend<T>* be_ = nullptr;
  U* p_ = nullptr;
};

}  // namespace grwarm
