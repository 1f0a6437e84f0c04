#include "vit.h"

#include <algorithm>
#include <stdexcept>

namespace grwarm {

namespace {

// Dropout sites: 0 is the embedding; layer l uses 8l + 1.. so sites never collide.
constexpr uint32_t kSiteEmbed = 0, kSiteAttnProbs = 1, kSiteAttnProj = 2, kSiteMlpHidden = 3,
                   kSiteMlpOut = 4;
uint32_t site(int layer, uint32_t kind) { return uint32_t(layer) * 8u + kind; }

// Offsets of one block's tensors, resolved once so the hot path does no lookups.
struct BlockOffsets {
  size_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
};
struct Offsets {
  size_t cls, pos, patch_w, patch_b, norm_w, norm_b, head_w, head_b;
  std::vector<BlockOffsets> blocks;
};

Offsets build_layout(const ModelConfig& c, ParamLayout* L) {
  Offsets o;
  const int D = c.width, P = c.patch, C = c.channels, H = c.mlp_hidden;
  o.cls = L->add("cls_token", {1, 1, D}, InitKind::Zeros, false);
  o.pos = L->add("pos_embed", {1, c.tokens(), D}, InitKind::Normal, false, 0.02f);
  o.patch_w = L->add("patch_embed.proj.weight", {D, C, P, P}, InitKind::LecunNormal, true);
  o.patch_b = L->add("patch_embed.proj.bias", {D}, InitKind::Zeros, false);
  for (int i = 0; i < c.depth; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    BlockOffsets b;
    b.ln1_w = L->add(p + "norm1.weight", {D}, InitKind::Ones, false);
    b.ln1_b = L->add(p + "norm1.bias", {D}, InitKind::Zeros, false);
    b.qkv_w = L->add(p + "attn.qkv.weight", {3 * D, D}, InitKind::XavierUniformQkv, true);
    b.qkv_b = L->add(p + "attn.qkv.bias", {3 * D}, InitKind::Zeros, false);
    b.proj_w = L->add(p + "attn.proj.weight", {D, D}, InitKind::XavierUniform, true);
    b.proj_b = L->add(p + "attn.proj.bias", {D}, InitKind::Zeros, false);
    b.ln2_w = L->add(p + "norm2.weight", {D}, InitKind::Ones, false);
    b.ln2_b = L->add(p + "norm2.bias", {D}, InitKind::Zeros, false);
    b.fc1_w = L->add(p + "mlp.fc1.weight", {H, D}, InitKind::XavierUniform, true);
    b.fc1_b = L->add(p + "mlp.fc1.bias", {H}, InitKind::Normal, false, 1e-6f);
    b.fc2_w = L->add(p + "mlp.fc2.weight", {D, H}, InitKind::XavierUniform, true);
    b.fc2_b = L->add(p + "mlp.fc2.bias", {D}, InitKind::Normal, false, 1e-6f);
    o.blocks.push_back(b);
  }
  o.norm_w = L->add("norm.weight", {D}, InitKind::Ones, false);
  o.norm_b = L->add("norm.bias", {D}, InitKind::Zeros, false);
  o.head_w = L->add("head.weight", {c.num_classes, D}, InitKind::Zeros, true);
  o.head_b = L->add("head.bias", {c.num_classes}, InitKind::Zeros, false);
  return o;
}

template <class T>
class VitNet final : public Net<T> {
  using Net<T>::b_, Net<T>::dy_b_, Net<T>::prm, Net<T>::grd;

 public:
  VitNet(const ModelConfig& c) : cfg_(c) {
    ParamLayout scratch;
    o_ = build_layout(c, &scratch);
  }
  void plan(Arena<T>& a, int B) override;
  void adopt() override { std::swap(acts_, staged_); }
  void forward(const float* images, int B, uint64_t seed, bool train, T* logits) override;
  void backward(const T* dlogits, int B, uint64_t seed, bool train) override;

 private:
  // Activations of one layer, kept from the forward pass for the backward pass.
  struct LayerActs {
    T *x_in, *ln1, *mean1, *rstd1, *qkv, *probs, *att, *x_mid, *ln2, *mean2, *rstd2, *fc1, *gelu;
    // bf16 mode: the GEMM inputs above rounded to bf16 in the forward pass, kept for the
    // weight gradients of the backward pass (null otherwise).
    uint16_t *ln1_b = nullptr, *att_b = nullptr, *ln2_b = nullptr, *gelu_b = nullptr;
  };
  struct Acts {
    std::vector<LayerActs> layers;
    T *patches, *patch_tok, *x_out, *tmp, *cls_in, *cls_ln, *meanf, *rstdf;
    T *dx, *dtmp, *dln, *dhid, *dqkv, *datt, *dcls_ln, *dcls_in, *dpatch;
    uint16_t *patches_b = nullptr, *cls_ln_b = nullptr, *dy_b = nullptr;
  };
  DropoutSpec drop(uint64_t seed, uint32_t s, bool train) const {
    // Elements per sample of the site's tensor (embedding, projection, MLP output: Tn x D).
    const uint64_t Tn = uint64_t(cfg_.tokens()), D = uint64_t(cfg_.width);
    uint64_t per_sample = Tn * D;
    if (s % 8 == kSiteAttnProbs) per_sample = uint64_t(cfg_.heads) * Tn * Tn;
    if (s % 8 == kSiteMlpHidden) per_sample = Tn * uint64_t(cfg_.mlp_hidden);
    return Net<T>::drop(seed, s, train, cfg_.dropout, per_sample);
  }

  ModelConfig cfg_;
  Offsets o_;
  Acts acts_, staged_;
};

template <class T>
void VitNet<T>::plan(Arena<T>& a, int B) {
  const size_t Tn = cfg_.tokens(), D = cfg_.width, P = cfg_.num_patches(), K = cfg_.patch_dim(),
               M = cfg_.mlp_hidden, H = cfg_.heads, C = cfg_.num_classes;
  const size_t BT = size_t(B) * Tn;
  const bool bf = b_.bf != nullptr;
  Acts& s = staged_;
  s = Acts{};
  s.layers.assign(cfg_.depth, LayerActs{});
  for (auto& L : s.layers) {
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
    if (bf) {
      a.plan(&L.ln1_b, BT * D);
      a.plan(&L.att_b, BT * D);
      a.plan(&L.ln2_b, BT * D);
      a.plan(&L.gelu_b, BT * M);
    }
  }
  if (bf) {
    a.plan(&s.patches_b, size_t(B) * P * K);
    a.plan(&s.cls_ln_b, size_t(B) * D);
    a.plan(&s.dy_b, std::max({BT * 3 * D, BT * M, size_t(B) * P * D, size_t(B) * C}));
  }
  a.plan(&s.patches, size_t(B) * P * K);
  a.plan(&s.patch_tok, size_t(B) * P * D);
  a.plan(&s.x_out, BT * D);
  a.plan(&s.tmp, BT * D);
  a.plan(&s.cls_in, size_t(B) * D);
  a.plan(&s.cls_ln, size_t(B) * D);
  a.plan(&s.meanf, B);
  a.plan(&s.rstdf, B);
  a.plan(&s.dx, BT * D);
  a.plan(&s.dtmp, BT * D);
  a.plan(&s.dln, BT * D);
  a.plan(&s.dhid, BT * M);
  a.plan(&s.dqkv, BT * 3 * D);
  a.plan(&s.datt, BT * D);
  a.plan(&s.dcls_ln, size_t(B) * D);
  a.plan(&s.dcls_in, size_t(B) * D);
  a.plan(&s.dpatch, size_t(B) * P * D);
}

template <class T>
void VitNet<T>::forward(const float* images, int B, uint64_t seed, bool train, T* logits) {
  Backend<T>* be = b_.be;
  Bf16Ops* bf = b_.bf;
  Acts& A0 = acts_;
  dy_b_ = A0.dy_b;
  const int Tn = cfg_.tokens(), D = cfg_.width, P = cfg_.num_patches(), K = cfg_.patch_dim(),
            M = cfg_.mlp_hidden, C = cfg_.num_classes;
  const int BT = B * Tn;
  const float eps = cfg_.ln_eps;
  be->patchify(A0.patches, images, B, cfg_.channels, cfg_.image_size, cfg_.patch);
  this->linear_fwd(A0.patch_tok, A0.patches, A0.patches_b, o_.patch_w, o_.patch_b, B * P, D, K);
  T* x = cfg_.depth > 0 ? A0.layers[0].x_in : A0.x_out;
  be->embed_fwd(x, A0.patch_tok, prm(o_.cls), prm(o_.pos), B, P, D, drop(seed, kSiteEmbed, train));
  const AttnShape shape{B, Tn, cfg_.heads, cfg_.head_dim()};
  for (int l = 0; l < cfg_.depth; ++l) {
    LayerActs& A = A0.layers[l];
    const BlockOffsets& o = o_.blocks[l];
    T* x_next = l + 1 < cfg_.depth ? A0.layers[l + 1].x_in : A0.x_out;
    // bf16 mode: the LayerNorm and GELU outputs only feed GEMMs, so they are written as bf16.
    this->layernorm_for_gemm(A.ln1, A.ln1_b, A.mean1, A.rstd1, A.x_in, o.ln1_w, o.ln1_b, BT, D, eps);
    this->linear_fwd(A.qkv, bf ? nullptr : A.ln1, A.ln1_b, o.qkv_w, o.qkv_b, BT, 3 * D, D);
    be->attention_fwd(A.att, A.probs, A.qkv, shape, drop(seed, site(l, kSiteAttnProbs), train));
    this->linear_residual_fwd(A.x_mid, A.x_in, A0.tmp, A.att, A.att_b, o.proj_w, o.proj_b, BT, D,
                              D, drop(seed, site(l, kSiteAttnProj), train));
    this->layernorm_for_gemm(A.ln2, A.ln2_b, A.mean2, A.rstd2, A.x_mid, o.ln2_w, o.ln2_b, BT, D, eps);
    this->linear_fwd(A.fc1, bf ? nullptr : A.ln2, A.ln2_b, o.fc1_w, o.fc1_b, BT, M, D);
    if (bf)
      bf->gelu_fwd_bf16(A.gelu_b, f32(A.fc1), size_t(BT) * M, cfg_.gelu,
                        drop(seed, site(l, kSiteMlpHidden), train));
    else
      be->gelu_fwd(A.gelu, A.fc1, size_t(BT) * M, cfg_.gelu,
                   drop(seed, site(l, kSiteMlpHidden), train));
    this->linear_residual_fwd(x_next, A.x_mid, A0.tmp, bf ? nullptr : A.gelu, A.gelu_b, o.fc2_w,
                              o.fc2_b, BT, D, M, drop(seed, site(l, kSiteMlpOut), train));
  }
  // Only the class token reaches the head, and LayerNorm is row-wise: normalise B rows,
  // not B * Tn.
  be->gather_cls(A0.cls_in, A0.x_out, B, Tn, D);
  be->layernorm_fwd(A0.cls_ln, A0.meanf, A0.rstdf, A0.cls_in, prm(o_.norm_w), prm(o_.norm_b), B, D,
                    T(eps));
  this->linear_fwd(logits, A0.cls_ln, A0.cls_ln_b, o_.head_w, o_.head_b, B, C, D);
}

template <class T>
void VitNet<T>::backward(const T* dlogits, int B, uint64_t seed, bool train) {
  Backend<T>* be = b_.be;
  Bf16Ops* bf = b_.bf;
  Acts& A0 = acts_;
  dy_b_ = A0.dy_b;
  const int Tn = cfg_.tokens(), D = cfg_.width, P = cfg_.num_patches(), K = cfg_.patch_dim(),
            M = cfg_.mlp_hidden, C = cfg_.num_classes;
  const int BT = B * Tn;
  T* dx = A0.dx;
  // head and final norm (class-token rows only)
  this->linear_bwd(A0.dcls_ln, dlogits, A0.cls_ln, A0.cls_ln_b, o_.head_w, o_.head_b, B, C, D);
  be->layernorm_bwd(A0.dcls_in, grd(o_.norm_w), grd(o_.norm_b), A0.dcls_ln, A0.cls_in, A0.meanf,
                    A0.rstdf, prm(o_.norm_w), B, D, false);
  be->scatter_cls(dx, A0.dcls_in, B, Tn, D);
  const AttnShape shape{B, Tn, cfg_.heads, cfg_.head_dim()};
  for (int l = cfg_.depth - 1; l >= 0; --l) {
    LayerActs& A = A0.layers[l];
    const BlockOffsets& o = o_.blocks[l];
    // x_next = x_mid + dropout(fc2(gelu)):  dx holds d x_next
    // bf16 mode: the dropout, the bias gradient and the rounding of dy in one pass.
    if (bf) {
      bf->col_sum_round_bf16(f32(grd(o.fc2_b)), dy_b_, f32(dx), BT, D,
                             drop(seed, site(l, kSiteMlpOut), train));
      this->linear_bwd_rounded(A0.dhid, A.gelu_b, o.fc2_w, BT, D, M);
      // dh is only a GEMM input and a bias-gradient sum: computed, summed and rounded in one pass.
      bf->gelu_bwd_bf16(f32(grd(o.fc1_b)), dy_b_, f32(A0.dhid), f32(A.fc1), BT, M, cfg_.gelu,
                        drop(seed, site(l, kSiteMlpHidden), train));
      this->linear_bwd_rounded(A0.dln, A.ln2_b, o.fc1_w, BT, M, D);
    } else {
      be->dropout_bwd(A0.dtmp, dx, size_t(BT) * D, drop(seed, site(l, kSiteMlpOut), train));
      this->linear_bwd(A0.dhid, A0.dtmp, A.gelu, A.gelu_b, o.fc2_w, o.fc2_b, BT, D, M);
      be->gelu_bwd(A0.dhid, A0.dhid, A.fc1, size_t(BT) * M, cfg_.gelu,
                   drop(seed, site(l, kSiteMlpHidden), train));
      this->linear_bwd(A0.dln, A0.dhid, A.ln2, A.ln2_b, o.fc1_w, o.fc1_b, BT, M, D);
    }
    be->layernorm_bwd(dx, grd(o.ln2_w), grd(o.ln2_b), A0.dln, A.x_mid, A.mean2, A.rstd2, prm(o.ln2_w),
                      BT, D, true);
    // x_mid = x_in + dropout(proj(att)):  dx now holds d x_mid
    if (bf) {
      bf->col_sum_round_bf16(f32(grd(o.proj_b)), dy_b_, f32(dx), BT, D,
                             drop(seed, site(l, kSiteAttnProj), train));
      this->linear_bwd_rounded(A0.datt, A.att_b, o.proj_w, BT, D, D);
    } else {
      be->dropout_bwd(A0.dtmp, dx, size_t(BT) * D, drop(seed, site(l, kSiteAttnProj), train));
      this->linear_bwd(A0.datt, A0.dtmp, A.att, A.att_b, o.proj_w, o.proj_b, BT, D, D);
    }
    be->attention_bwd(A0.dqkv, A0.datt, A.qkv, A.probs, shape,
                      drop(seed, site(l, kSiteAttnProbs), train));
    this->linear_bwd(A0.dln, A0.dqkv, A.ln1, A.ln1_b, o.qkv_w, o.qkv_b, BT, 3 * D, D);
    be->layernorm_bwd(dx, grd(o.ln1_w), grd(o.ln1_b), A0.dln, A.x_in, A.mean1, A.rstd1, prm(o.ln1_w),
                      BT, D, true);
  }
  be->embed_bwd(A0.dpatch, grd(o_.cls), grd(o_.pos), dx, B, P, D, drop(seed, kSiteEmbed, train));
  this->linear_bwd(nullptr, A0.dpatch, A0.patches, A0.patches_b, o_.patch_w, o_.patch_b, B * P, D, K);
}

}  // namespace

void VitFamily::apply(ModelConfig& c, const ConfigFields& extra) const {
  for (const auto& kv : extra)
    throw std::invalid_argument("config." + kv.first + ": not a field of the vit family");
}

void VitFamily::validate(const ModelConfig& c) const {
  auto bad = [](const std::string& field, int v, const std::string& want) {
    throw std::invalid_argument("config." + field + ": got " + std::to_string(v) + ", expected " + want);
  };
  if (c.image_size < 1) bad("imageSize", c.image_size, "an integer >= 1");
  if (c.channels < 1 || c.channels > 64) bad("channels", c.channels, "an integer in [1, 64]");
  if (c.patch < 1 || c.image_size % c.patch != 0)
    bad("patchSize", c.patch, "a divisor of imageSize " + std::to_string(c.image_size));
  if (c.num_classes < 2) bad("numClasses", c.num_classes, "an integer >= 2");
  if (c.width < 1) bad("width", c.width, "an integer >= 1");
  if (c.depth < 0) bad("depth", c.depth, "an integer >= 0");
  if (c.heads < 1 || c.width % c.heads != 0)
    bad("heads", c.heads, "a divisor of width " + std::to_string(c.width));
  if (c.mlp_hidden < 1) bad("mlpHidden", c.mlp_hidden, "an integer >= 1");
  if (!(c.dropout >= 0.0f && c.dropout < 1.0f))
    throw std::invalid_argument("config.dropout: got " + std::to_string(c.dropout) +
                                ", expected a number in [0, 1)");
}

ParamLayout VitFamily::layout(const ModelConfig& c) const {
  ParamLayout L;
  build_layout(c, &L);
  return L;
}

std::unique_ptr<Net<float>> VitFamily::make_f32(const ModelConfig& c, const ParamLayout&) const {
  return std::make_unique<VitNet<float>>(c);
}
std::unique_ptr<Net<double>> VitFamily::make_f64(const ModelConfig& c, const ParamLayout&) const {
  return std::make_unique<VitNet<double>>(c);
}

}  // namespace grwarm
