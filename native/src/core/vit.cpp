#include "vit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "init.h"

namespace grwarm {

namespace {
// Dropout sites: 0 is the embedding; layer l uses 8l + 1.. so sites never collide.
constexpr uint32_t kSiteEmbed = 0, kSiteAttnProbs = 1, kSiteAttnProj = 2, kSiteMlpHidden = 3,
                   kSiteMlpOut = 4;
uint32_t site(int layer, uint32_t kind) { return uint32_t(layer) * 8u + kind; }
}  // namespace

template <class T>
Vit<T>::Vit(const VitConfig& cfg, std::unique_ptr<Backend<T>> backend, uint64_t seed, bool bf16)
    : cfg_(cfg), be_(std::move(backend)), acts_arena_(be_.get()), bf16_(bf16) {
  cfg_.validate();
  if (bf16_ && (sizeof(T) != sizeof(float) || !be_->has_bf16()))
    throw std::invalid_argument("precision bfloat16 is not supported on device \"" + be_->name() +
                                "\"" + (sizeof(T) == sizeof(float) ? " yet" : "") +
                                " (it needs float32 master weights and the backend's bf16 GEMM)");
  layout_ = ParamLayout::build(cfg_);
  try {
    params_ = static_cast<T*>(be_->alloc_bytes(layout_.total * sizeof(T)));
    grads_ = static_cast<T*>(be_->alloc_bytes(layout_.total * sizeof(T)));
    scalars_ = static_cast<double*>(be_->alloc_bytes(kNumScalars * sizeof(double)));
    if (bf16_) params_b_ = static_cast<uint16_t*>(be_->alloc_bytes(layout_.total * sizeof(uint16_t)));
  } catch (...) {
    for (void* p : {static_cast<void*>(params_), static_cast<void*>(grads_),
                    static_cast<void*>(scalars_)})
      if (p) be_->free_bytes(p);
    throw;
  }
  be_->fill(grads_, T(0), layout_.total);
  gout_ = grads_;
  init(seed);
}

template <class T>
Vit<T>::~Vit() {
  acts_arena_.release();
  for (void* p : {static_cast<void*>(params_), static_cast<void*>(grads_),
                  static_cast<void*>(images_), static_cast<void*>(labels_),
                  static_cast<void*>(correct_), static_cast<void*>(g1_),
                  static_cast<void*>(saved_), static_cast<void*>(slots_[0]),
                  static_cast<void*>(slots_[1]), static_cast<void*>(slots_[2]),
                  static_cast<void*>(scalars_), static_cast<void*>(acc_),
                  static_cast<void*>(params_b_)})
    if (p) be_->free_bytes(p);
}

template <class T>
void Vit<T>::init(uint64_t seed) {
  std::vector<T> host(layout_.total);
  init_params(layout_, cfg_, seed, host.data());
  be_->upload(params_, host.data(), host.size() * sizeof(T));
  ++gen_[int(FlatBuffer::Params)];
}

template <class T>
T* Vit<T>::flat(FlatBuffer which, size_t slot, const char* what) {
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
void Vit<T>::read_buffer(FlatBuffer which, size_t slot, void* host_dst) {
  be_->download(host_dst, flat(which, slot, "read"), layout_.total * sizeof(T));
}

template <class T>
void Vit<T>::write_buffer(FlatBuffer which, size_t slot, const void* host_src) {
  be_->upload(flat(which, slot, "write"), host_src, layout_.total * sizeof(T));
  be_->synchronize();  // the caller may reuse its memory as soon as we return
  ++gen_[int(which)];
}

// Registers every per-batch activation buffer for a batch of B in `a` (layer buffers into
// `layers`, the rest into the members); commit() then allocates them in one block.
template <class T>
void Vit<T>::plan_buffers(Arena<T>& a, std::vector<LayerActs>& layers, int B) {
  const size_t Tn = cfg_.tokens(), D = cfg_.width, P = cfg_.num_patches(), K = cfg_.patch_dim(),
               M = cfg_.mlp_hidden, H = cfg_.heads, C = cfg_.num_classes;
  const size_t BT = size_t(B) * Tn;
  layers.assign(cfg_.depth, LayerActs{});
  for (auto& L : layers) {
    a.plan(&L.x_in, BT * D);
    a.plan(&L.ln1, BT * D);
    a.plan(&L.mean1, BT);
    a.plan(&L.rstd1, BT);
    a.plan(&L.qkv, BT * 3 * D);
    a.plan(&L.probs, size_t(B) * H * Tn * Tn);
    a.plan(&L.att, BT * D);
    a.plan(&L.x_mid, BT * D);
    a.plan(&L.ln2, BT * D);
    a.plan(&L.mean2, BT);
    a.plan(&L.rstd2, BT);
    a.plan(&L.fc1, BT * M);
    a.plan(&L.gelu, BT * M);
    if (bf16_) {
      a.plan(&L.ln1_b, BT * D);
      a.plan(&L.att_b, BT * D);
      a.plan(&L.ln2_b, BT * D);
      a.plan(&L.gelu_b, BT * M);
    }
  }
  if (bf16_) {
    a.plan(&patches_b_, size_t(B) * P * K);
    a.plan(&cls_ln_b_, size_t(B) * D);
    a.plan(&dy_b_, std::max({BT * 3 * D, BT * M, size_t(B) * P * D, size_t(B) * C}));
  }
  a.plan(&patches_, size_t(B) * P * K);
  a.plan(&patch_tok_, size_t(B) * P * D);
  a.plan(&x_out_, BT * D);
  a.plan(&tmp_, BT * D);
  a.plan(&cls_in_, size_t(B) * D);
  a.plan(&cls_ln_, size_t(B) * D);
  a.plan(&meanf_, B);
  a.plan(&rstdf_, B);
  a.plan(&logits_, size_t(B) * C);
  a.plan(&dlogits_, size_t(B) * C);
  a.plan(&row_loss_, B);
  a.plan(&dx_, BT * D);
  a.plan(&dtmp_, BT * D);
  a.plan(&dln_, BT * D);
  a.plan(&dhid_, BT * M);
  a.plan(&dqkv_, BT * 3 * D);
  a.plan(&datt_, BT * D);
  a.plan(&dcls_ln_, size_t(B) * D);
  a.plan(&dcls_in_, size_t(B) * D);
  a.plan(&dpatch_, size_t(B) * P * D);
}

template <class T>
size_t Vit<T>::input_bytes(int B) const {
  return size_t(B) * (cfg_.image_numel() * sizeof(float) + sizeof(int32_t) + 1);
}

template <class T>
size_t Vit<T>::activation_bytes(int B) const {
  // Planning writes nothing but the arena's request list, so a scratch arena can size it.
  Arena<T> scratch(be_.get());
  std::vector<LayerActs> layers;
  const_cast<Vit<T>*>(this)->plan_buffers(scratch, layers, B);
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
void Vit<T>::ensure_capacity(int B) {
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
              (be_->name() == "cpu" ? std::string(" this machine has")
                                    : " left on the " + be_->name() + " device"));
  std::vector<LayerActs> fresh_layers;
  Arena<T>& a = acts_arena_;
  plan_buffers(a, fresh_layers, B);
  // The inputs first, into locals: nothing of the model changes until everything is allocated.
  void* in[3] = {nullptr, nullptr, nullptr};
  try {
    in[0] = be_->alloc_bytes(size_t(B) * cfg_.image_numel() * sizeof(float));
    in[1] = be_->alloc_bytes(size_t(B) * sizeof(int32_t));
    in[2] = be_->alloc_bytes(size_t(B));
    host_scratch_.reserve(size_t(B) * cfg_.num_classes);
    a.commit();  // all or nothing (arena.h)
  } catch (const std::bad_alloc&) {
    a.discard_plan();
    for (void* p : in)
      if (p) be_->free_bytes(p);
    throw oom("");
  }
  layers_.swap(fresh_layers);
  for (void* p : {static_cast<void*>(images_), static_cast<void*>(labels_),
                  static_cast<void*>(correct_)})
    if (p) be_->free_bytes(p);
  images_ = static_cast<float*>(in[0]);
  labels_ = static_cast<int32_t*>(in[1]);
  correct_ = static_cast<uint8_t*>(in[2]);
  host_scratch_.resize(size_t(B) * cfg_.num_classes);
  capacity_ = B;
}

template <class T>
DropoutSpec Vit<T>::drop(uint64_t seed, uint32_t s, bool train) const {
  DropoutSpec d = make_dropout(mix64(seed + 0x51ed2701ULL), s, train ? cfg_.dropout : 0.0f);
  if (sample_offset_ != 0) {
    // Masks are keyed by the global element index: skip the elements of the samples before
    // this batch (every site's tensor has the batch as its outermost dimension).
    const uint64_t Tn = uint64_t(cfg_.tokens()), D = uint64_t(cfg_.width);
    uint64_t per_sample = Tn * D;  // embedding, attention projection, MLP output
    if (s % 8 == kSiteAttnProbs) per_sample = uint64_t(cfg_.heads) * Tn * Tn;
    if (s % 8 == kSiteMlpHidden) per_sample = Tn * uint64_t(cfg_.mlp_hidden);
    d.index_offset = sample_offset_ * per_sample;
  }
  return d;
}

// y[rows, out] = x[rows, in] W[out, in]^T + b. bf16 mode: x (when not null) is rounded into
// x_b first; a null x means the producer already wrote x_b.
template <class T>
void Vit<T>::linear_fwd(T* y, const T* x, uint16_t* x_b, size_t w, size_t b, int rows, int out,
                        int in) {
  if (bf16_) {
    if (x) be_->round_bf16(x_b, x, size_t(rows) * in);
    be_->linear_fwd_bf16(y, x_b, params_b_ + w, params_ + b, rows, out, in);
    return;
  }
  be_->linear_fwd(y, x, params_ + w, params_ + b, rows, out, in);
}

// dW = dy^T x, db = colsum(dy), and (if dx) dx = dy W. Gradients are written, not added:
// each parameter is used exactly once per forward pass. The bias gradient sums dy in T
// (in bf16 mode in the same pass that rounds dy).
template <class T>
void Vit<T>::linear_bwd(T* dx, const T* dy, const T* x, const uint16_t* x_b, size_t w, size_t b,
                        int rows, int out, int in) {
  if (bf16_) {
    be_->col_sum_round_bf16(gout_ + b, dy_b_, dy, rows, out, DropoutSpec{});
    linear_bwd_rounded(dx, x_b, w, rows, out, in);
    return;
  }
  be_->gemm(Trans::Yes, Trans::No, out, in, rows, T(1), dy, out, x, in, T(0), gout_ + w, in);
  be_->col_sum(gout_ + b, dy, rows, out, false);
  if (dx) be_->gemm(Trans::No, Trans::No, rows, in, out, T(1), dy, out, params_ + w, in, T(0), dx, in);
}

// bf16 mode: the GEMMs of linear_bwd once dy_b_ holds bf16(dy) (and the bias gradient is done).
template <class T>
void Vit<T>::linear_bwd_rounded(T* dx, const uint16_t* x_b, size_t w, int rows, int out, int in) {
  be_->gemm_bf16(Trans::Yes, Trans::No, out, in, rows, dy_b_, out, x_b, in, T(0), gout_ + w, in);
  if (dx)
    be_->gemm_bf16(Trans::No, Trans::No, rows, in, out, dy_b_, out, params_b_ + w, in, T(0), dx, in);
}

// A block's LayerNorm, whose output only feeds the next GEMM: into y, or in bf16 mode into y_b
// alone (the bf16 GEMM input).
template <class T>
void Vit<T>::layernorm_for_gemm(T* y, uint16_t* y_b, T* mean, T* rstd, const T* x, size_t w,
                                size_t b, int rows) {
  const T eps = T(cfg_.ln_eps);
  if (bf16_)
    be_->layernorm_fwd_bf16(y_b, mean, rstd, x, params_ + w, params_ + b, rows, cfg_.width, eps);
  else
    be_->layernorm_fwd(y, mean, rstd, x, params_ + w, params_ + b, rows, cfg_.width, eps);
}

template <class T>
void Vit<T>::forward(const float* images, int B, uint64_t seed, bool train) {
  const int Tn = cfg_.tokens(), D = cfg_.width, P = cfg_.num_patches(), K = cfg_.patch_dim(),
            M = cfg_.mlp_hidden, C = cfg_.num_classes;
  const int BT = B * Tn;
  const T eps = T(cfg_.ln_eps);
  be_->upload(images_, images, size_t(B) * cfg_.image_numel() * sizeof(float));
  if (bf16_) be_->round_bf16(params_b_, params_, layout_.total);  // the master may have changed
  be_->patchify(patches_, images_, B, cfg_.channels, cfg_.image_size, cfg_.patch);
  linear_fwd(patch_tok_, patches_, patches_b_, layout_.patch_w, layout_.patch_b, B * P, D, K);
  T* x = cfg_.depth > 0 ? layers_[0].x_in : x_out_;
  be_->embed_fwd(x, patch_tok_, params_ + layout_.cls, params_ + layout_.pos, B, P, D,
                 drop(seed, kSiteEmbed, train));
  const AttnShape shape{B, Tn, cfg_.heads, cfg_.head_dim()};
  for (int l = 0; l < cfg_.depth; ++l) {
    LayerActs& A = layers_[l];
    const BlockOffsets& o = layout_.blocks[l];
    T* x_next = l + 1 < cfg_.depth ? layers_[l + 1].x_in : x_out_;
    // bf16 mode: the LayerNorm and GELU outputs only feed GEMMs, so they are written as bf16.
    layernorm_for_gemm(A.ln1, A.ln1_b, A.mean1, A.rstd1, A.x_in, o.ln1_w, o.ln1_b, BT);
    linear_fwd(A.qkv, bf16_ ? nullptr : A.ln1, A.ln1_b, o.qkv_w, o.qkv_b, BT, 3 * D, D);
    be_->attention_fwd(A.att, A.probs, A.qkv, shape, drop(seed, site(l, kSiteAttnProbs), train));
    linear_fwd(tmp_, A.att, A.att_b, o.proj_w, o.proj_b, BT, D, D);
    be_->residual_fwd(A.x_mid, A.x_in, tmp_, size_t(BT) * D,
                      drop(seed, site(l, kSiteAttnProj), train));
    layernorm_for_gemm(A.ln2, A.ln2_b, A.mean2, A.rstd2, A.x_mid, o.ln2_w, o.ln2_b, BT);
    linear_fwd(A.fc1, bf16_ ? nullptr : A.ln2, A.ln2_b, o.fc1_w, o.fc1_b, BT, M, D);
    if (bf16_)
      be_->gelu_fwd_bf16(A.gelu_b, A.fc1, size_t(BT) * M, cfg_.gelu,
                         drop(seed, site(l, kSiteMlpHidden), train));
    else
      be_->gelu_fwd(A.gelu, A.fc1, size_t(BT) * M, cfg_.gelu,
                    drop(seed, site(l, kSiteMlpHidden), train));
    linear_fwd(tmp_, bf16_ ? nullptr : A.gelu, A.gelu_b, o.fc2_w, o.fc2_b, BT, D, M);
    be_->residual_fwd(x_next, A.x_mid, tmp_, size_t(BT) * D,
                      drop(seed, site(l, kSiteMlpOut), train));
  }
  // Only the class token reaches the head, and LayerNorm is row-wise: normalise B rows,
  // not B * Tn.
  be_->gather_cls(cls_in_, x_out_, B, Tn, D);
  be_->layernorm_fwd(cls_ln_, meanf_, rstdf_, cls_in_, params_ + layout_.norm_w,
                     params_ + layout_.norm_b, B, D, eps);
  linear_fwd(logits_, cls_ln_, cls_ln_b_, layout_.head_w, layout_.head_b, B, C, D);
}

template <class T>
void Vit<T>::loss(const int32_t* labels, int B, double smoothing, bool want_grad, int stats) {
  const int C = cfg_.num_classes;
  be_->upload(labels_, labels, size_t(B) * sizeof(int32_t));
  be_->softmax_xent(want_grad ? dlogits_ : nullptr, row_loss_, correct_, logits_, labels_, B, C,
                    T(smoothing));
  be_->loss_stats(scalars_ + stats, row_loss_, correct_, B);
}

template <class T>
void Vit<T>::download_scalars() {
  be_->download(host_scalars_, scalars_, sizeof host_scalars_);
}

template <class T>
PassResult Vit<T>::pass_result(int stats, int B) const {
  PassResult r;
  r.loss = host_scalars_[stats] / B;
  r.correct = int(host_scalars_[stats + 1]);
  r.count = B;
  return r;
}

template <class T>
void Vit<T>::backward(int B, uint64_t seed, bool train) {
  const int Tn = cfg_.tokens(), D = cfg_.width, P = cfg_.num_patches(), K = cfg_.patch_dim(),
            M = cfg_.mlp_hidden, C = cfg_.num_classes;
  const int BT = B * Tn;
  // head and final norm (class-token rows only)
  linear_bwd(dcls_ln_, dlogits_, cls_ln_, cls_ln_b_, layout_.head_w, layout_.head_b, B, C, D);
  be_->layernorm_bwd(dcls_in_, gout_ + layout_.norm_w, gout_ + layout_.norm_b, dcls_ln_, cls_in_,
                     meanf_, rstdf_, params_ + layout_.norm_w, B, D, false);
  be_->scatter_cls(dx_, dcls_in_, B, Tn, D);
  const AttnShape shape{B, Tn, cfg_.heads, cfg_.head_dim()};
  for (int l = cfg_.depth - 1; l >= 0; --l) {
    LayerActs& A = layers_[l];
    const BlockOffsets& o = layout_.blocks[l];
    // x_next = x_mid + dropout(fc2(gelu)):  dx holds d x_next
    // bf16 mode: the dropout, the bias gradient and the rounding of dy in one pass.
    if (bf16_) {
      be_->col_sum_round_bf16(gout_ + o.fc2_b, dy_b_, dx_, BT, D, drop(seed, site(l, kSiteMlpOut), train));
      linear_bwd_rounded(dhid_, A.gelu_b, o.fc2_w, BT, D, M);
    } else {
      be_->dropout_bwd(dtmp_, dx_, size_t(BT) * D, drop(seed, site(l, kSiteMlpOut), train));
      linear_bwd(dhid_, dtmp_, A.gelu, A.gelu_b, o.fc2_w, o.fc2_b, BT, D, M);
    }
    if (bf16_) {
      // dh is only a GEMM input and a bias-gradient sum: computed, summed and rounded in one pass.
      be_->gelu_bwd_bf16(gout_ + o.fc1_b, dy_b_, dhid_, A.fc1, BT, M, cfg_.gelu,
                         drop(seed, site(l, kSiteMlpHidden), train));
      linear_bwd_rounded(dln_, A.ln2_b, o.fc1_w, BT, M, D);
    } else {
      be_->gelu_bwd(dhid_, dhid_, A.fc1, size_t(BT) * M, cfg_.gelu,
                    drop(seed, site(l, kSiteMlpHidden), train));
      linear_bwd(dln_, dhid_, A.ln2, A.ln2_b, o.fc1_w, o.fc1_b, BT, M, D);
    }
    be_->layernorm_bwd(dx_, gout_ + o.ln2_w, gout_ + o.ln2_b, dln_, A.x_mid, A.mean2, A.rstd2,
                       params_ + o.ln2_w, BT, D, true);
    // x_mid = x_in + dropout(proj(att)):  dx now holds d x_mid
    if (bf16_) {
      be_->col_sum_round_bf16(gout_ + o.proj_b, dy_b_, dx_, BT, D, drop(seed, site(l, kSiteAttnProj), train));
      linear_bwd_rounded(datt_, A.att_b, o.proj_w, BT, D, D);
    } else {
      be_->dropout_bwd(dtmp_, dx_, size_t(BT) * D, drop(seed, site(l, kSiteAttnProj), train));
      linear_bwd(datt_, dtmp_, A.att, A.att_b, o.proj_w, o.proj_b, BT, D, D);
    }
    be_->attention_bwd(dqkv_, datt_, A.qkv, A.probs, shape,
                       drop(seed, site(l, kSiteAttnProbs), train));
    linear_bwd(dln_, dqkv_, A.ln1, A.ln1_b, o.qkv_w, o.qkv_b, BT, 3 * D, D);
    be_->layernorm_bwd(dx_, gout_ + o.ln1_w, gout_ + o.ln1_b, dln_, A.x_in, A.mean1, A.rstd1,
                       params_ + o.ln1_w, BT, D, true);
  }
  be_->embed_bwd(dpatch_, gout_ + layout_.cls, gout_ + layout_.pos, dx_, B, P, D,
                 drop(seed, kSiteEmbed, train));
  linear_bwd(nullptr, dpatch_, patches_, patches_b_, layout_.patch_w, layout_.patch_b, B * P, D, K);
}

template <class T>
void Vit<T>::pass(T* gout, const float* images, const int32_t* labels, int B, uint64_t seed,
                  bool train, double smoothing, int stats) {
  forward(images, B, seed, train);
  loss(labels, B, smoothing, true, stats);
  gout_ = gout;
  backward(B, seed, train);
  gout_ = grads_;
}

template <class T>
PassResult Vit<T>::forward_backward(const float* images, const int32_t* labels, int B,
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
PassResult Vit<T>::evaluate(float* logits, const float* images, const int32_t* labels, int B,
                            double smoothing) {
  ensure_capacity(B);
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
double Vit<T>::param_norm() {
  be_->sum_squares(scalars_ + kNormSq, params_, layout_.total);
  download_scalars();
  return std::sqrt(host_scalars_[kNormSq]);
}

template <class T>
double Vit<T>::grad_norm() {
  be_->sum_squares(scalars_ + kNormSq, grads_, layout_.total);
  download_scalars();
  return std::sqrt(host_scalars_[kNormSq]);
}

template class Vit<float>;
template class Vit<double>;

}  // namespace grwarm
