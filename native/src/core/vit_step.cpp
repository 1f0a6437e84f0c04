// Training-step members of Vit<T>: the optimizer over flat buffers and the fused GR step
// (SPEC sections 1-2). Kept apart from vit.cpp, which is the forward/backward pass only.
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "vit.h"

namespace grwarm {

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}
}  // namespace

template <class T>
void Vit<T>::configure_optimizer(const OptimConfig& cfg) {
  optim_ = cfg;
  const size_t n = layout_.total;
  switch (cfg.kind) {
    case OptimKind::Adam:
      slot_names_ = {"exp_avg", "exp_avg_sq"};
      break;
    case OptimKind::RMSProp:
      slot_names_ = {"square_avg"};
      if (cfg.momentum > 0) slot_names_.push_back("momentum_buffer");
      if (cfg.centered) slot_names_.push_back("grad_avg");
      break;
    case OptimKind::SGD:
      slot_names_ = {"momentum_buffer"};
      break;
  }
  for (T*& s : slots_) {
    if (s) be_->free_bytes(s);
    s = nullptr;
  }
  // RMSProp's slots are positional in optim_update: s1 = v, s2 = momentum, s3 = mean grad.
  const bool want[3] = {
      true,
      cfg.kind == OptimKind::Adam || (cfg.kind == OptimKind::RMSProp && cfg.momentum > 0),
      cfg.kind == OptimKind::RMSProp && cfg.centered,
  };
  for (int i = 0; i < 3; ++i)
    if (want[i]) {
      slots_[i] = static_cast<T*>(be_->alloc_bytes(n * sizeof(T)));
      be_->fill(slots_[i], T(0), n);
    }
  if (!g1_) g1_ = static_cast<T*>(be_->alloc_bytes(n * sizeof(T)));
  if (!saved_) saved_ = static_cast<T*>(be_->alloc_bytes(n * sizeof(T)));
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
}

template <class T>
void* Vit<T>::optimizer_slot(size_t i) {
  if (i >= slot_names_.size()) throw std::out_of_range("optimizer slot index");
  // slot_names_ lists the allocated slots in slots_ order
  size_t k = 0;
  for (T* s : slots_)
    if (s) {
      if (k == i) return s;
      ++k;
    }
  throw std::out_of_range("optimizer slot index");
}

template <class T>
ApplyResult Vit<T>::apply_optimizer(double lr) {
  if (!optim_ready_) throw std::logic_error("optimizer not configured: call configureOptimizer first");
  ApplyResult r;
  r.g_norm = std::sqrt(be_->sum_squares(grads_, layout_.total));
  if (!std::isfinite(r.g_norm)) {
    r.g_norm_clipped = r.g_norm;
    return r;  // never write NaN/Inf into the parameters or the state
  }
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
  const double t = double(optim_steps_ + 1);  // SPEC: bias correction with t = step + 1
  o.bc1 = 1.0 - std::pow(optim_.beta1, t);
  o.bc2 = 1.0 - std::pow(optim_.beta2, t);
  // Global-norm clipping: g * clip / max(||g||, clip).
  o.grad_scale = (optim_.clip > 0 && r.g_norm > optim_.clip) ? optim_.clip / r.g_norm : 1.0;
  r.g_norm_clipped = r.g_norm * o.grad_scale;
  for (const DecayRun& run : decay_runs_) {
    auto at = [&](T* s) { return s ? s + run.begin : nullptr; };
    be_->optim_update(params_ + run.begin, grads_ + run.begin, at(slots_[0]), at(slots_[1]),
                      at(slots_[2]), run.end - run.begin, o, run.decay);
  }
  ++optim_steps_;
  r.applied = true;
  return r;
}

template <class T>
StepResult Vit<T>::step(const float* images, const int32_t* labels, int B, const StepOptions& s) {
  if (!optim_ready_) throw std::logic_error("optimizer not configured: call configureOptimizer first");
  const size_t n = layout_.total;
  StepResult out;
  out.second_pass = s.lambda > 0 && s.r > 0;
  auto t0 = Clock::now();
  if (!out.second_pass) {
    // Base step: exactly the optimizer on g1 (SPEC: lambda = 0 or r = 0 skips the second pass).
    out.first = pass(grads_, images, labels, B, s.seed, s.train, s.smoothing);
    out.ms_first = ms_since(t0);
    t0 = Clock::now();
    out.update = apply_optimizer(s.lr);
    out.g1_norm = out.update.g_norm;
    out.ms_optim = ms_since(t0);
    return out;
  }
  // 1. g1 = grad L(theta), into its own buffer.
  out.first = pass(g1_, images, labels, B, s.seed, s.train, s.smoothing);
  out.ms_first = ms_since(t0);
  // 2. one global norm over every parameter; save theta; theta += r g1 / (||g1|| + 1e-12).
  t0 = Clock::now();
  out.g1_norm = std::sqrt(be_->sum_squares(g1_, n));
  be_->gr_perturb(params_, saved_, g1_, s.r / (out.g1_norm + 1e-12), n);
  out.ms_perturb = ms_since(t0);
  // 3. g2 = grad L(theta + e) on the same batch with the same dropout masks (same seed).
  t0 = Clock::now();
  out.second = pass(grads_, images, labels, B, s.seed, s.train, s.smoothing);
  out.ms_second = ms_since(t0);
  // 4. g = (1 - alpha) g1 + alpha g2; restore theta by copying it back (bit-exact).
  t0 = Clock::now();
  be_->gr_combine(grads_, g1_, s.lambda / s.r, n);
  be_->copy(params_, saved_, n);
  out.ms_combine = ms_since(t0);
  // 5. clip the combined gradient and update.
  t0 = Clock::now();
  out.update = apply_optimizer(s.lr);
  out.ms_optim = ms_since(t0);
  return out;
}

#define GW_INSTANTIATE(T)                                                                   \
  template void Vit<T>::configure_optimizer(const OptimConfig&);                            \
  template void* Vit<T>::optimizer_slot(size_t);                                            \
  template ApplyResult Vit<T>::apply_optimizer(double);                                     \
  template StepResult Vit<T>::step(const float*, const int32_t*, int, const StepOptions&);
GW_INSTANTIATE(float)
GW_INSTANTIATE(double)
#undef GW_INSTANTIATE

}  // namespace grwarm
