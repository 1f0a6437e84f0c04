#include "flat_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "init.h"

namespace grwarm {

template <class T>
FlatModel<T>::FlatModel(const ModelConfig& cfg, std::unique_ptr<Backend<T>> backend,
                        uint64_t seed, bool bf16)
    : cfg_(cfg), be_(std::move(backend)), acts_arena_(be_.get()), bf16_(bf16) {
  const Family& family = find_family(cfg_.family);
  family.validate(cfg_);
  if (bf16_) bf_ = be_->bf16();  // null for float64 and for backends without bf16
  if (bf16_ && !bf_)
    throw std::invalid_argument("precision bfloat16 is not supported on device \"" + be_->name() +
                                "\"" + (sizeof(T) == sizeof(float) ? " yet" : "") +
                                " (it needs float32 master weights and the backend's bf16 GEMM)");
  layout_ = family.layout(cfg_);
  // Owned buffers: whatever was allocated before a failure is freed by its destructor.
  params_ = DeviceBuffer<T>(be_.get(), layout_.total);
  grads_ = DeviceBuffer<T>(be_.get(), layout_.total);
  scalars_ = DeviceBuffer<T, double>(be_.get(), kNumScalars);
  if (bf16_) params_b_ = DeviceBuffer<T, uint16_t>(be_.get(), layout_.total);
  be_->fill(grads_, T(0), layout_.total);
  if constexpr (sizeof(T) == sizeof(float))
    net_ = family.make_f32(cfg_, layout_);
  else
    net_ = family.make_f64(cfg_, layout_);
  bind(grads_);
  init(seed);
}

template <class T>
FlatModel<T>::~FlatModel() = default;  // the buffers free themselves, before the backend (declared first)

template <class T>
void FlatModel<T>::init(uint64_t seed) {
  std::vector<T> host(layout_.total);
  init_params(layout_, seed, host.data());
  be_->upload(params_, host.data(), host.size() * sizeof(T));
  ++gen_[int(FlatBuffer::Params)];
}

template <class T>
T* FlatModel<T>::flat(FlatBuffer which, size_t slot, const char* what) {
  switch (which) {
    case FlatBuffer::Params: return params_;
    case FlatBuffer::Grads: return grads_;
    case FlatBuffer::OptimSlot:
      if (slot >= slot_names_.size())
        throw std::out_of_range(std::string(what) + ": optimizer slot " + std::to_string(slot) +
                                " does not exist (" + std::to_string(slot_names_.size()) +
                                " slots; configure the optimizer first)");
      return optimizer_slot(slot);
  }
  throw std::invalid_argument(std::string(what) + ": unknown buffer");
}

template <class T>
void FlatModel<T>::read_buffer(FlatBuffer which, size_t slot, void* host_dst) {
  be_->download(host_dst, flat(which, slot, "read"), layout_.total * sizeof(T));
}

template <class T>
void FlatModel<T>::write_buffer(FlatBuffer which, size_t slot, const void* host_src) {
  be_->upload(flat(which, slot, "write"), host_src, layout_.total * sizeof(T));
  be_->synchronize();  // the caller may reuse its memory as soon as we return
  ++gen_[int(which)];
}

// Registers every per-batch buffer for a batch of B in `a` (the network's into its staged
// set, the model's into the staged_* members); commit() then allocates them in one block.
template <class T>
void FlatModel<T>::plan_buffers(Arena<T>& a, int B) {
  const size_t C = cfg_.num_classes;
  net_->plan(a, B);
  a.plan(&staged_logits_, size_t(B) * C);
  a.plan(&staged_dlogits_, size_t(B) * C);
  a.plan(&staged_row_loss_, B);
}

// Points the network at the flat buffers: parameters (and their bf16 copy), the gradient
// output `gout`, and the sample offset of a data-parallel pass.
template <class T>
void FlatModel<T>::bind(T* gout) {
  typename Net<T>::Bound b;
  b.be = be_.get();
  b.bf = bf_;
  b.params = params_;
  b.params_b = params_b_;
  b.gout = gout;
  b.sample_offset = sample_offset_;
  net_->bind(b);
}

template <class T>
size_t FlatModel<T>::input_bytes(int B) const {
  return size_t(B) * (cfg_.image_numel() * sizeof(float) + sizeof(int32_t) + 1);
}

template <class T>
size_t FlatModel<T>::activation_bytes(int B) const {
  // Planning writes nothing but the arena's request list, so a scratch arena can size it.
  Arena<T> scratch(be_.get());
  const_cast<FlatModel<T>*>(this)->plan_buffers(scratch, B);
  const size_t bytes = scratch.planned_bytes();
  scratch.discard_plan();
  return bytes + input_bytes(B);
}

namespace {
std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1ull << 30));
  return buf;
}
}  // namespace

// Grows the per-batch buffers to hold B images. All or nothing: when memory runs out the
// error says how much the batch needs, and the model keeps its old buffers and capacity, so
// it stays usable with smaller batches.
template <class T>
void FlatModel<T>::ensure_capacity(int B) {
  if (B <= capacity_) return;
  const size_t need = activation_bytes(B);
  const size_t limit = be_->memory_limit_bytes();
  auto oom = [&](const std::string& why) {
    return std::runtime_error("out of memory: a batch of " + std::to_string(B) + " images needs " +
                              gib(double(need)) + " of activation memory on " + be_->name() + " (" +
                              std::to_string(need / size_t(B) / 1024) + " KiB per image)" + why +
                              "; use a smaller batch (the model is unchanged and still usable)");
  };
  if (limit > 0 && need > limit)
    throw oom(", more than the " + gib(double(limit)) +
              (be_->caps().host_memory ? std::string(" this machine has")
                                       : " left on the " + be_->name() + " device"));
  Arena<T>& a = acts_arena_;
  plan_buffers(a, B);
  // The inputs first, into locals: nothing of the model changes until everything is allocated.
  DeviceBuffer<T, float> images;
  DeviceBuffer<T, int32_t> labels;
  DeviceBuffer<T, uint8_t> correct;
  try {
    images = DeviceBuffer<T, float>(be_.get(), size_t(B) * cfg_.image_numel());
    labels = DeviceBuffer<T, int32_t>(be_.get(), size_t(B));
    correct = DeviceBuffer<T, uint8_t>(be_.get(), size_t(B));
    host_scratch_.reserve(size_t(B) * cfg_.num_classes);
    a.commit();  // all or nothing (arena.h)
  } catch (const std::bad_alloc&) {
    a.discard_plan();
    throw oom("");  // the locals free what they got
  }
  net_->adopt();
  logits_ = staged_logits_;
  dlogits_ = staged_dlogits_;
  row_loss_ = staged_row_loss_;
  images_ = std::move(images);
  labels_ = std::move(labels);
  correct_ = std::move(correct);
  host_scratch_.resize(size_t(B) * cfg_.num_classes);
  capacity_ = B;
}

template <class T>
void FlatModel<T>::forward(const float* images, int B, uint64_t seed, bool train) {
  be_->upload(images_, images, size_t(B) * cfg_.image_numel() * sizeof(float));
  if (bf_) bf_->round_bf16(params_b_, f32(params_.get()), layout_.total);  // the master may have changed
  net_->forward(images_, B, seed, train, logits_);
}

template <class T>
void FlatModel<T>::loss(const int32_t* labels, int B, double smoothing, bool want_grad, int stats) {
  const int C = cfg_.num_classes;
  be_->upload(labels_, labels, size_t(B) * sizeof(int32_t));
  be_->softmax_xent(want_grad ? dlogits_ : nullptr, row_loss_, correct_, logits_, labels_, B, C,
                    T(smoothing));
  be_->loss_stats(scalars_ + stats, row_loss_, correct_, B);
}

template <class T>
void FlatModel<T>::download_scalars() {
  be_->download(host_scalars_, scalars_, sizeof host_scalars_);
}

template <class T>
PassResult FlatModel<T>::pass_result(int stats, int B) const {
  PassResult r;
  r.loss = host_scalars_[stats] / B;
  r.correct = int(host_scalars_[stats + 1]);
  r.count = B;
  return r;
}

template <class T>
void FlatModel<T>::pass(T* gout, const float* images, const int32_t* labels, int B, uint64_t seed,
                  bool train, double smoothing, int stats) {
  bind(gout);
  forward(images, B, seed, train);
  loss(labels, B, smoothing, true, stats);
  net_->backward(dlogits_, B, seed, train);
}

template <class T>
PassResult FlatModel<T>::forward_backward(const float* images, const int32_t* labels, int B,
                                    uint64_t seed, bool train, double smoothing) {
  ensure_capacity(B);
  if (comm_) {
    // Data parallel: this rank's part of the global batch; the gradient and loss are global.
    const GlobalBatch gb = global_batch(B);
    sample_offset_ = gb.offset;
    try {
      pass(grads_, images, labels, B, seed, train, smoothing, kLoss1);
    } catch (...) {
      sample_offset_ = 0;
      throw;
    }
    sample_offset_ = 0;
    StepResult timing;
    reduce_grads(grads_, gb, timing);
    ++gen_[int(FlatBuffer::Grads)];
    download_scalars();
    double v[2] = {host_scalars_[kLoss1], host_scalars_[kLoss1 + 1]};
    comm_->allreduce_scalars(v, 2);
    PassResult r;
    r.loss = v[0] / gb.total;
    r.correct = int(v[1]);
    r.count = gb.total;
    return r;
  }
  pass(grads_, images, labels, B, seed, train, smoothing, kLoss1);
  ++gen_[int(FlatBuffer::Grads)];
  download_scalars();
  return pass_result(kLoss1, B);
}

template <class T>
PassResult FlatModel<T>::evaluate(float* logits, const float* images, const int32_t* labels, int B,
                            double smoothing) {
  ensure_capacity(B);
  bind(grads_);
  forward(images, B, 0, false);
  PassResult r;
  r.count = B;
  if (labels) {
    loss(labels, B, smoothing, false, kLoss1);
    download_scalars();
    r = pass_result(kLoss1, B);
  }
  if (logits) {
    const size_t n = size_t(B) * cfg_.num_classes;
    be_->download(host_scratch_.data(), logits_, n * sizeof(T));
    for (size_t i = 0; i < n; ++i) logits[i] = float(host_scratch_[i]);
  }
  return r;
}

template <class T>
double FlatModel<T>::param_norm() {
  be_->sum_squares(scalars_ + kNormSq, params_, layout_.total);
  download_scalars();
  return std::sqrt(host_scalars_[kNormSq]);
}

template <class T>
double FlatModel<T>::grad_norm() {
  be_->sum_squares(scalars_ + kNormSq, grads_, layout_.total);
  download_scalars();
  return std::sqrt(host_scalars_[kNormSq]);
}

template class FlatModel<float>;
template class FlatModel<double>;

}  // namespace grwarm
