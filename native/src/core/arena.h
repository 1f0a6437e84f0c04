// One backend allocation carved into many named buffers.
//
// The model plans every activation buffer for a batch capacity, then allocates them in a
// single block; growing the batch re-plans once. The hot path never allocates.
#pragma once
#include <cstddef>
#include <vector>

#include "backend.h"

namespace grwarm {

template <class T>
class Arena {
 public:
  explicit Arena(Backend<T>* be) : be_(be) {}
  ~Arena() { release(); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Registers `*slot` to receive a buffer of n elements at commit().
  void plan(T** slot, size_t n) { reqs_.push_back({slot, n}); }

  // Bytes the planned buffers will take.
  size_t planned_bytes() const {
    size_t total = 0;
    for (auto& r : reqs_) total += round_up(r.n);
    return total * sizeof(T);
  }

  // All or nothing: the new block is allocated before the old one is released, so when the
  // allocation fails (std::bad_alloc) no slot has changed and the old buffers stay valid.
  void commit() {
    const size_t bytes = planned_bytes();
    std::vector<Req> reqs;
    reqs.swap(reqs_);  // a failed commit leaves no stale plan behind
    T* fresh = static_cast<T*>(be_->alloc_bytes(bytes));
    release();
    block_ = fresh;
    size_t off = 0;
    for (auto& r : reqs) {
      *r.slot = block_ + off;
      off += round_up(r.n);
    }
  }

  void discard_plan() { reqs_.clear(); }

  void release() {
    if (block_) be_->free_bytes(block_);
    block_ = nullptr;
  }

 private:
  static size_t round_up(size_t n) { return (n + 15) / 16 * 16; }  // 64-byte aligned slices
  struct Req {
    T** slot;
    size_t n;
  };
  Backend<T>* be_;
  std::vector<Req> reqs_;
  T* block_ = nullptr;
};

}  // namespace grwarm
