// Training-step members of FlatModel<T>: the optimizer over flat buffers and the fused GR step
// (docs/method.md, sections 1-2). Kept apart from flat_model.cpp (buffers and passes).
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "flat_model.h"

namespace grwarm {

template <class T>
void FlatModel<T>::configure_optimizer(const OptimConfig& cfg) {
  const size_t n = layout_.total;
  std::vector<std::string> names;
  switch (cfg.kind) {
    case OptimKind::Adam:
      names = {"exp_avg", "exp_avg_sq"};
      break;
    case OptimKind::RMSProp:
      names = {"square_avg"};
      if (cfg.momentum > 0) names.push_back("momentum_buffer");
      if (cfg.centered) names.push_back("grad_avg");
      break;
    case OptimKind::SGD:
      names = {"momentum_buffer"};
      break;
  }
  // RMSProp's slots are positional in optim_update: s1 = v, s2 = momentum, s3 = mean grad.
  const bool want[3] = {
      true,
      cfg.kind == OptimKind::Adam || (cfg.kind == OptimKind::RMSProp && cfg.momentum > 0),
      cfg.kind == OptimKind::RMSProp && cfg.centered,
  };
  // Allocate everything new before freeing anything old: when memory runs out the previous
  // optimizer (if any) is left exactly as it was.
  DeviceBuffer<T> fresh[3];
  DeviceBuffer<T> g1, saved;
  try {
    for (int i = 0; i < 3; ++i)
      if (want[i]) fresh[i] = DeviceBuffer<T>(be_.get(), n);
    if (!g1_) g1 = DeviceBuffer<T>(be_.get(), n);
    if (!saved_) saved = DeviceBuffer<T>(be_.get(), n);
  } catch (const std::bad_alloc&) {
    throw std::runtime_error("out of memory: the optimizer state needs " +
                             std::to_string((3 + names.size()) * n * sizeof(T) >> 20) +
                             " MiB on " + be_->name() + "; the model and its previous optimizer are unchanged");
  }
  if (g1) g1_ = std::move(g1);
  if (saved) saved_ = std::move(saved);
  for (int i = 0; i < 3; ++i) {
    slots_[i] = std::move(fresh[i]);
    if (slots_[i]) be_->fill(slots_[i], T(0), n);
  }
  slot_names_ = names;
  optim_ = cfg;
  // Merge consecutive tensors with the same decay flag: a handful of contiguous runs.
  decay_runs_.clear();
  for (const TensorView& t : layout_.tensors) {
    const bool d = cfg.timm_mask ? t.decay_in_timm : true;
    if (!decay_runs_.empty() && decay_runs_.back().decay == d && decay_runs_.back().end == t.offset)
      decay_runs_.back().end = t.offset + t.size;
    else
      decay_runs_.push_back({t.offset, t.offset + t.size, d});
  }
  optim_steps_ = 0;
  optim_ready_ = true;
  ++gen_[int(FlatBuffer::OptimSlot)];
}

template <class T>
T* FlatModel<T>::optimizer_slot(size_t i) {
  // slot_names_ lists the allocated slots in slots_ order
  size_t k = 0;
  for (T* s : slots_)
    if (s) {
      if (k == i) return s;
      ++k;
    }
  throw std::out_of_range("optimizer slot index " + std::to_string(i));
}

// Issues ||g||^2 and the update of every decay run; the kernels read the norm from backend
// memory (clip factor, and no update at all when it is not finite), so nothing waits here.
template <class T>
OptimStep FlatModel<T>::issue_optimizer(double lr) {
  if (!optim_ready_) throw std::logic_error("optimizer not configured: call configureOptimizer first");
  OptimStep o;
  o.kind = optim_.kind;
  o.lr = lr;
  o.beta1 = optim_.beta1;
  o.beta2 = optim_.beta2;
  o.eps = optim_.eps;
  o.rho = optim_.rho;
  o.momentum = optim_.momentum;
  o.centered = optim_.centered;
  o.weight_decay = optim_.weight_decay;
  o.clip = optim_.clip;
  const double t = double(optim_steps_ + 1);  // bias correction with t = step + 1
  o.bc1 = 1.0 - std::pow(optim_.beta1, t);
  o.bc2 = 1.0 - std::pow(optim_.beta2, t);
  be_->sum_squares(scalars_ + kGSq, grads_, layout_.total);
  for (const DecayRun& run : decay_runs_) {
    auto at = [&](T* s) { return s ? s + run.begin : nullptr; };
    be_->optim_update(params_ + run.begin, grads_ + run.begin, at(slots_[0]), at(slots_[1]),
                      at(slots_[2]), run.end - run.begin, o, run.decay, scalars_ + kGSq);
  }
  return o;
}

// Host bookkeeping once ||g||^2 is known: the same decisions the kernels made.
template <class T>
ApplyResult FlatModel<T>::finish_optimizer(double g_sq, const OptimStep& o) {
  ApplyResult r;
  r.g_norm = std::sqrt(g_sq);
  r.applied = update_allowed(g_sq);
  r.g_norm_clipped = r.applied ? r.g_norm * clip_scale(g_sq, o.clip) : r.g_norm;
  if (r.applied) {
    ++optim_steps_;
    ++gen_[int(FlatBuffer::Params)];
    ++gen_[int(FlatBuffer::OptimSlot)];
  }
  return r;
}

template <class T>
ApplyResult FlatModel<T>::apply_optimizer(double lr) {
  const OptimStep o = issue_optimizer(lr);
  download_scalars();
  return finish_optimizer(host_scalars_[kGSq], o);
}

// The fused step. Every phase is issued without waiting; the backend's timing marks bracket
// the phases, and the per-step scalars (losses, norms) are read back once at the end.
template <class T>
StepResult FlatModel<T>::step(const float* images, const int32_t* labels, int B, const StepOptions& s) {
  if (!optim_ready_) throw std::logic_error("optimizer not configured: call configureOptimizer first");
  if (s.shards < 1 || s.shards > B)
    throw std::invalid_argument("shards: expected 1 to the batch size " + std::to_string(B) +
                                ", got " + std::to_string(s.shards));
  if (s.shards > 1 && !s.local_perturbation)
    throw std::invalid_argument("shards: " + std::to_string(s.shards) +
                                " perturbation shards need the local perturbation mode");
  // Data parallel, or one perturbation per shard: the step below (same math, more phases).
  if (comm_ || (s.shards > 1 && s.lambda > 0 && s.r > 0)) return step_parallel(images, labels, B, s);
  ensure_capacity(B);
  StepResult out;
  out.second_pass = s.lambda > 0 && s.r > 0;
  be_->mark(0);
  OptimStep o;
  if (!out.second_pass) {
    // Base step: exactly the optimizer on g1 (lambda = 0 or r = 0 skips the second pass).
    pass(grads_, images, labels, B, s.seed, s.train, s.smoothing, kLoss1);
    be_->mark(1);
    o = issue_optimizer(s.lr);
    be_->mark(5);
  } else {
    gr_sequence(images, labels, B, s, nullptr, out, true);
    be_->mark(4);
    // 5. clip the combined gradient and update.
    o = issue_optimizer(s.lr);
    be_->mark(5);
  }
  download_scalars();  // the one wait of the step
  ++gen_[int(FlatBuffer::Grads)];
  out.first = pass_result(kLoss1, B);
  out.update = finish_optimizer(host_scalars_[kGSq], o);
  if (out.second_pass) {
    out.second = pass_result(kLoss2, B);
    out.g1_norm = std::sqrt(host_scalars_[kG1Sq]);
    out.ms_first = be_->elapsed_ms(0, 1);
    out.ms_perturb = be_->elapsed_ms(1, 2);
    out.ms_second = be_->elapsed_ms(2, 3);
    out.ms_combine = be_->elapsed_ms(3, 4);
    out.ms_optim = be_->elapsed_ms(4, 5);
  } else {
    out.g1_norm = out.update.g_norm;
    out.ms_first = be_->elapsed_ms(0, 1);
    out.ms_optim = be_->elapsed_ms(1, 5);
  }
  return out;
}

template <class T>
void FlatModel<T>::gr_sequence(const float* images, const int32_t* labels, int B,
                               const StepOptions& s, const GlobalBatch* gb, StepResult& out,
                               bool marks) {
  const size_t n = layout_.total;
  // 1. g1 = grad L(theta), into its own buffer.
  pass(g1_, images, labels, B, s.seed, s.train, s.smoothing, kLoss1);
  if (gb) reduce_grads(g1_, *gb, out);
  if (marks) be_->mark(1);
  // 2. one global norm over every parameter; save theta; theta += r g1 / (||g1|| + 1e-12).
  be_->sum_squares(scalars_ + kG1Sq, g1_, n);
  be_->gr_perturb(params_, saved_, g1_, s.r, scalars_ + kG1Sq, n);
  if (marks) be_->mark(2);
  // 3. g2 = grad L(theta + e) on the same batch with the same dropout masks (same seed).
  pass(grads_, images, labels, B, s.seed, s.train, s.smoothing, kLoss2);
  if (gb) reduce_grads(grads_, *gb, out);
  if (marks) be_->mark(3);
  // 4. g = (1 - alpha) g1 + alpha g2; restore theta by copying it back (bit-exact).
  be_->gr_combine(grads_, g1_, s.lambda / s.r, n);
  be_->copy(params_, saved_, n);
}

// ---- data parallelism and perturbation shards ---------------------------------------------

// One tiny all-reduce of every rank's batch size: the global batch, this rank's offset in it
// (ranks hold consecutive samples in rank order) and its weight in the mean gradient.
template <class T>
typename FlatModel<T>::GlobalBatch FlatModel<T>::global_batch(int B) {
  GlobalBatch gb;
  gb.total = B;
  if (!comm_) return gb;
  const int N = comm_->size(), me = comm_->rank();
  std::vector<double> sizes(size_t(N), 0.0);
  sizes[size_t(me)] = double(B);
  comm_->allreduce_scalars(sizes.data(), sizes.size());
  double total = 0, before = 0;
  for (int r = 0; r < N; ++r) {
    if (r < me) before += sizes[size_t(r)];
    total += sizes[size_t(r)];
  }
  gb.offset = uint64_t(before);
  gb.total = int(total);
  gb.weight = double(B) / total;
  return gb;
}

template <class T>
void FlatModel<T>::reduce_grads(T* g, const GlobalBatch& gb, StepResult& out) {
  const size_t n = layout_.total;
  const auto t0 = std::chrono::steady_clock::now();
  if (comm_->device_buffers() || be_->caps().host_memory) {
    be_->synchronize();  // the buffer is complete before another engine reads it
    comm_->allreduce_sum(g, n, gb.weight);
  } else {
    // MPI on a GPU backend: stage through host memory (NCCL would take g directly).
    stage_.resize(n);
    be_->download(stage_.data(), g, n * sizeof(T));
    comm_->allreduce_sum(stage_.data(), n, gb.weight);
    be_->upload(g, stage_.data(), n * sizeof(T));
  }
  out.ms_comm += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const double N = comm_->size();
  out.comm_bytes += 2.0 * (N - 1.0) / N * double(n * sizeof(T));  // a ring all-reduce's traffic
}

template <class T>
void FlatModel<T>::sharded_gr(const float* images, const int32_t* labels, int B, const StepOptions& s,
                        uint64_t offset, double sums[5]) {
  const size_t n = layout_.total;
  if (!acc_) {
    try {
      acc_ = DeviceBuffer<T>(be_.get(), n);
    } catch (const std::bad_alloc&) {
      throw std::runtime_error("out of memory: perturbation shards need one more gradient buffer (" +
                               std::to_string(n * sizeof(T) >> 20) + " MiB) on " + be_->name());
    }
  }
  const int K = s.shards;
  const size_t numel = size_t(cfg_.image_numel());
  int start = 0;
  try {
    for (int k = 0; k < K; ++k) {
      const int b = B / K + (k < B % K ? 1 : 0);  // the first B mod K shards take one more
      const float* im = images + size_t(start) * numel;
      const int32_t* lb = labels + start;
      sample_offset_ = offset + uint64_t(start);  // the same masks as the whole batch's
      StepResult unused;
      gr_sequence(im, lb, b, s, nullptr, unused, false);
      // Running mean of the shards' combined gradients, weighted by shard size:
      // acc = (1 - b/S) acc + (b/S) g with S the samples so far (gr_combine's formula).
      if (k > 0) be_->gr_combine(grads_, acc_, double(b) / double(start + b), n);
      std::swap(grads_, acc_);
      download_scalars();
      sums[0] += host_scalars_[kLoss1];
      sums[1] += host_scalars_[kCorrect1];
      sums[2] += host_scalars_[kLoss2];
      sums[3] += host_scalars_[kCorrect2];
      sums[4] += double(b) * std::sqrt(host_scalars_[kG1Sq]);
      start += b;
    }
  } catch (...) {
    sample_offset_ = 0;
    throw;
  }
  std::swap(grads_, acc_);  // the mean is the gradient
  sample_offset_ = 0;
}

// The step of a data-parallel rank (comm_ set) or of a batch split into perturbation shards.
// Global mode: g1 and g2 are all-reduced, so every rank perturbs identically: the single-
// process GR step on the global batch. Local mode: each shard perturbs with its own g1 and
// norm, the combined gradients are averaged (weighted by shard size) and then all-reduced.
template <class T>
StepResult FlatModel<T>::step_parallel(const float* images, const int32_t* labels, int B,
                                 const StepOptions& s) {
  ensure_capacity(B);
  StepResult out;
  out.second_pass = s.lambda > 0 && s.r > 0;
  const GlobalBatch gb = global_batch(B);
  const bool sharded = out.second_pass && s.local_perturbation && s.shards > 1;
  double sums[5] = {0, 0, 0, 0, 0};
  struct ResetOffset {
    uint64_t& v;
    ~ResetOffset() { v = 0; }
  } reset{sample_offset_};
  sample_offset_ = gb.offset;
  be_->mark(0);
  if (!out.second_pass) {
    pass(grads_, images, labels, B, s.seed, s.train, s.smoothing, kLoss1);
    be_->mark(1);
    be_->mark(2);
    be_->mark(3);
    if (comm_) reduce_grads(grads_, gb, out);
  } else if (sharded) {
    sharded_gr(images, labels, B, s, gb.offset, sums);
    be_->mark(1);
    be_->mark(2);
    be_->mark(3);
    if (comm_) reduce_grads(grads_, gb, out);
  } else {
    // Global mode: g1 and g2 are the global batch's (all-reduced), so every rank perturbs alike.
    gr_sequence(images, labels, B, s, comm_ && !s.local_perturbation ? &gb : nullptr, out, true);
    if (comm_ && s.local_perturbation) reduce_grads(grads_, gb, out);  // local: combined g
  }
  be_->mark(4);
  const OptimStep o = issue_optimizer(s.lr);
  be_->mark(5);
  download_scalars();
  ++gen_[int(FlatBuffer::Grads)];
  out.update = finish_optimizer(host_scalars_[kGSq], o);
  // Losses and counts of the global batch; the mean ||g1|| over the perturbations made.
  double v[5];
  if (sharded) {
    for (int i = 0; i < 5; ++i) v[i] = sums[i];
  } else {
    v[0] = host_scalars_[kLoss1];
    v[1] = host_scalars_[kCorrect1];
    v[2] = out.second_pass ? host_scalars_[kLoss2] : 0.0;
    v[3] = out.second_pass ? host_scalars_[kCorrect2] : 0.0;
    v[4] = out.second_pass ? double(B) * std::sqrt(host_scalars_[kG1Sq]) : 0.0;
  }
  if (comm_) comm_->allreduce_scalars(v, 5);
  const double total = gb.total;
  out.first.loss = v[0] / total;
  out.first.correct = int(v[1]);
  out.first.count = gb.total;
  if (out.second_pass) {
    out.second.loss = v[2] / total;
    out.second.correct = int(v[3]);
    out.second.count = gb.total;
    // Global mode: one g1, the same on every rank.
    out.g1_norm = sharded || s.local_perturbation ? v[4] / total : std::sqrt(host_scalars_[kG1Sq]);
  } else {
    out.g1_norm = out.update.g_norm;
  }
  out.ms_first = be_->elapsed_ms(0, 1);
  out.ms_perturb = be_->elapsed_ms(1, 2);
  out.ms_second = be_->elapsed_ms(2, 3);
  out.ms_combine = be_->elapsed_ms(3, 4);
  out.ms_optim = be_->elapsed_ms(4, 5);
  return out;
}

#define GW_INSTANTIATE(T)                                                                   \
  template void FlatModel<T>::configure_optimizer(const OptimConfig&);                            \
  template T* FlatModel<T>::optimizer_slot(size_t);                                               \
  template ApplyResult FlatModel<T>::apply_optimizer(double);                                     \
  template StepResult FlatModel<T>::step(const float*, const int32_t*, int, const StepOptions&);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)
#undef GW_INSTANTIATE

}  // namespace grwarm
