// One backend allocation carved into many named buffers.
//
// The model plans every activation buffer for a batch capacity, then allocates them in a
// single block; growing the batch re-plans once. The hot path never allocates.
#pragma once
#include <cstddef>
#include <functional>
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

  // Registers `*slot` to receive a buffer of n elements of U (T, or bf16 bits) at commit().
  template <class U>
  void plan(U** slot, size_t n) {
    reqs_.push_back({[slot](char* p) { *slot = reinterpret_cast<U*>(p); }, n * sizeof(U)});
  }

  // Bytes the planned buffers will take.
  size_t planned_bytes() const {
    size_t total = 0;
    for (auto& r : reqs_) total += round_up(r.bytes);
    return total;
  }

  // All or nothing: the new block is allocated before the old one is released, so when the
  // allocation fails (std::bad_alloc) no slot has changed and the old buffers stay valid.
  void commit() {
    const size_t bytes = planned_bytes();
    std::vector<Req> reqs;
    reqs.swap(reqs_);  // a failed commit leaves no stale plan behind
    char* fresh = static_cast<char*>(be_->alloc_bytes(bytes));
    release();
    block_ = fresh;
    size_t off = 0;
    for (auto& r : reqs) {
      r.set(block_ + off);
      off += round_up(r.bytes);
    }
  }

  void discard_plan() { reqs_.clear(); }

  void release() {
    if (block_) be_->free_bytes(block_);
    block_ = nullptr;
  }

 private:
  static size_t round_up(size_t bytes) { return (bytes + 63) / 64 * 64; }  // 64-byte aligned slices
  struct Req {
    std::function<void(char*)> set;
    size_t bytes;
  };
  Backend<T>* be_;
  std::vector<Req> reqs_;
  char* block_ = nullptr;
};

}  // namespace grwarm
