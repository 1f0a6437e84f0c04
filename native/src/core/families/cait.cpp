#include "cait.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace grwarm {

namespace {

// Offsets of one self-attention block (timm's LayerScaleBlock with TalkingHeadAttn) and of one
// class-attention block (LayerScaleBlockClassAttn with ClassAttn), resolved once.
struct SaOffsets {
  size_t g1, g2, ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, pl_w, pl_b, pw_w, pw_b, ln2_w, ln2_b,
      fc1_w, fc1_b, fc2_w, fc2_b;
};
struct CaOffsets {
  size_t g1, g2, ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, proj_w, proj_b, ln2_w, ln2_b, fc1_w,
      fc1_b, fc2_w, fc2_b;
};
struct Offsets {
  size_t cls, pos, patch_w, patch_b, norm_w, norm_b, head_w, head_b;
  std::vector<SaOffsets> sa;
  std::vector<CaOffsets> ca;
};

// timm's state_dict order: a module's own parameters (gamma_1, gamma_2; cls_token, pos_embed)
// before its submodules. Init as timm's Cait: trunc_normal(0.02) for every Linear weight and
// both tokens, zero biases, LayerNorm (1, 0), gammas at the LayerScale value.
Offsets build_layout(const ModelConfig& c, ParamLayout* L) {
  Offsets o;
  const int D = c.width, P = c.patch, H = c.heads, M = c.mlp_hidden;
  const float ls = c.layer_scale();
  const auto TN = InitKind::TruncNormal;
  auto lin = [&](const std::string& n, int out, int in, size_t* w, size_t* b) {
    *w = L->add(n + ".weight", {out, in}, TN, true, 0.02f);
    *b = L->add(n + ".bias", {out}, InitKind::Zeros, false);
  };
  auto norm = [&](const std::string& n, size_t* w, size_t* b) {
    *w = L->add(n + ".weight", {D}, InitKind::Ones, false);
    *b = L->add(n + ".bias", {D}, InitKind::Zeros, false);
  };
  o.cls = L->add("cls_token", {1, 1, D}, TN, false, 0.02f);
  o.pos = L->add("pos_embed", {1, c.num_patches(), D}, TN, false, 0.02f);
  o.patch_w = L->add("patch_embed.proj.weight", {D, c.channels, P, P}, TN, true, 0.02f);
  o.patch_b = L->add("patch_embed.proj.bias", {D}, InitKind::Zeros, false);
  for (int i = 0; i < c.depth; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    SaOffsets b;
    b.g1 = L->add(p + "gamma_1", {D}, InitKind::Constant, false, ls);
    b.g2 = L->add(p + "gamma_2", {D}, InitKind::Constant, false, ls);
    norm(p + "norm1", &b.ln1_w, &b.ln1_b);
    lin(p + "attn.qkv", 3 * D, D, &b.qkv_w, &b.qkv_b);
    lin(p + "attn.proj", D, D, &b.proj_w, &b.proj_b);
    lin(p + "attn.proj_l", H, H, &b.pl_w, &b.pl_b);
    lin(p + "attn.proj_w", H, H, &b.pw_w, &b.pw_b);
    norm(p + "norm2", &b.ln2_w, &b.ln2_b);
    lin(p + "mlp.fc1", M, D, &b.fc1_w, &b.fc1_b);
    lin(p + "mlp.fc2", D, M, &b.fc2_w, &b.fc2_b);
    o.sa.push_back(b);
  }
  for (int i = 0; i < c.class_depth; ++i) {
    const std::string p = "blocks_token_only." + std::to_string(i) + ".";
    CaOffsets b;
    b.g1 = L->add(p + "gamma_1", {D}, InitKind::Constant, false, ls);
    b.g2 = L->add(p + "gamma_2", {D}, InitKind::Constant, false, ls);
    norm(p + "norm1", &b.ln1_w, &b.ln1_b);
    lin(p + "attn.q", D, D, &b.q_w, &b.q_b);
    lin(p + "attn.k", D, D, &b.k_w, &b.k_b);
    lin(p + "attn.v", D, D, &b.v_w, &b.v_b);
    lin(p + "attn.proj", D, D, &b.proj_w, &b.proj_b);
    norm(p + "norm2", &b.ln2_w, &b.ln2_b);
    lin(p + "mlp.fc1", M, D, &b.fc1_w, &b.fc1_b);
    lin(p + "mlp.fc2", D, M, &b.fc2_w, &b.fc2_b);
    o.ca.push_back(b);
  }
  norm("norm", &o.norm_w, &o.norm_b);
  lin("head", c.num_classes, D, &o.head_w, &o.head_b);
  return o;
}

template <class T>
class CaitNet final : public Net<T> {
  using Net<T>::b_, Net<T>::dy_b_, Net<T>::prm, Net<T>::grd;

 public:
  explicit CaitNet(const ModelConfig& c) : cfg_(c) {
    ParamLayout scratch;
    o_ = build_layout(c, &scratch);
  }
  void plan(Arena<T>& a, int B) override;
  void adopt() override;
  void forward(const float* images, int B, uint64_t seed, bool train, T* logits) override;
  void backward(const T* dlogits, int B, uint64_t seed, bool train) override;

 private:
  // Activations kept from the forward pass. bf16 mode: every Linear input also rounded (*_b).
  struct SaActs {
    T *x_in, *ln1, *mean1, *rstd1, *qkv, *saved, *att, *br1, *x_mid, *ln2, *mean2, *rstd2, *fc1,
        *gelu, *br2;
    uint16_t *ln1_b = nullptr, *att_b = nullptr, *ln2_b = nullptr, *gelu_b = nullptr;
  };
  struct CaActs {
    T *c_in, *u, *un, *mean1, *rstd1, *qin, *q, *k, *v, *probs, *att, *br1, *c_mid, *ln2, *mean2,
        *rstd2, *fc1, *gelu, *br2;
    uint16_t *un_b = nullptr, *qin_b = nullptr, *att_b = nullptr, *ln2_b = nullptr, *gelu_b = nullptr;
  };
  struct Acts {
    std::vector<SaActs> sa;
    std::vector<CaActs> ca;
    int B = 0;
    int32_t *cat_idx = nullptr, *cat_inv = nullptr;  // [class, patches] <-> [patches; classes]
    T *patches, *tok, *x_ext, *c_out, *cn, *meanf, *rstdf;
    T *tmp, *dx, *dtmp, *dln, *dhid, *dqkv, *datt, *scratch, *dc, *dcn, *dbr, *dq, *dk, *dv, *dun,
        *dun2, *du, *de, *dqin;
    uint16_t *patches_b = nullptr, *cn_b = nullptr, *dy_b = nullptr;
  };

  // timm's Cait gives every self-attention block the same drop-path rate (dpr is constant)
  // and the class-attention blocks none. One site per residual branch, masks per sample.
  DropoutSpec drop_path(uint64_t seed, int l, int branch, bool train) const {
    return Net<T>::drop(seed, uint32_t(2000 + 2 * l + branch), train, cfg_.drop_path, 1);
  }

  ModelConfig cfg_;
  Offsets o_;
  Acts acts_, staged_;
};

template <class T>
void CaitNet<T>::plan(Arena<T>& a, int B) {
  const bool bf = b_.bf != nullptr;
  const size_t P = cfg_.num_patches(), K = cfg_.patch_dim(), D = cfg_.width, M = cfg_.mlp_hidden,
               H = cfg_.heads, Tn = P + 1, C = cfg_.num_classes;
  const size_t BP = size_t(B) * P, BT = size_t(B) * Tn, plane = size_t(B) * H * P * P;
  Acts& s = staged_;
  s = Acts{};
  s.B = B;
  s.sa.assign(cfg_.depth, SaActs{});
  for (SaActs& L : s.sa) {
    for (T** p : {&L.x_in, &L.ln1, &L.att, &L.br1, &L.x_mid, &L.ln2, &L.br2}) a.plan(p, BP * D);
    for (T** p : {&L.mean1, &L.rstd1, &L.mean2, &L.rstd2}) a.plan(p, BP);
    a.plan(&L.qkv, BP * 3 * D);
    a.plan(&L.saved, 3 * plane);
    a.plan(&L.fc1, BP * M);
    a.plan(&L.gelu, BP * M);
    if (bf) {
      for (uint16_t** p : {&L.ln1_b, &L.att_b, &L.ln2_b}) a.plan(p, BP * D);
      a.plan(&L.gelu_b, BP * M);
    }
  }
  s.ca.assign(cfg_.class_depth, CaActs{});
  for (CaActs& L : s.ca) {
    for (T** p : {&L.c_in, &L.qin, &L.q, &L.att, &L.br1, &L.c_mid, &L.ln2, &L.br2}) a.plan(p, size_t(B) * D);
    for (T** p : {&L.u, &L.un, &L.k, &L.v}) a.plan(p, BT * D);
    a.plan(&L.mean1, BT);
    a.plan(&L.rstd1, BT);
    a.plan(&L.mean2, B);
    a.plan(&L.rstd2, B);
    a.plan(&L.probs, size_t(B) * H * Tn);
    a.plan(&L.fc1, size_t(B) * M);
    a.plan(&L.gelu, size_t(B) * M);
    if (bf) {
      a.plan(&L.un_b, BT * D);
      for (uint16_t** p : {&L.qin_b, &L.att_b, &L.ln2_b}) a.plan(p, size_t(B) * D);
      a.plan(&L.gelu_b, size_t(B) * M);
    }
  }
  a.plan(&s.cat_idx, BT);
  a.plan(&s.cat_inv, BT);
  a.plan(&s.patches, BP * K);
  a.plan(&s.tok, BP * D);
  a.plan(&s.x_ext, BT * D);
  for (T** p : {&s.c_out, &s.cn, &s.dc, &s.dcn, &s.dbr, &s.dq, &s.dqin}) a.plan(p, size_t(B) * D);
  a.plan(&s.meanf, B);
  a.plan(&s.rstdf, B);
  if (bf) {
    a.plan(&s.patches_b, BP * K);
    a.plan(&s.cn_b, size_t(B) * D);
    a.plan(&s.dy_b, std::max({BP * 3 * D, BP * M, BT * D, size_t(B) * C}));
  }
  for (T** p : {&s.tmp, &s.dx, &s.dtmp, &s.dln, &s.datt}) a.plan(p, BP * D);
  a.plan(&s.dhid, BP * M);
  a.plan(&s.dqkv, BP * 3 * D);
  a.plan(&s.scratch, 3 * plane);
  for (T** p : {&s.dk, &s.dv, &s.dun, &s.dun2, &s.du, &s.de}) a.plan(p, BT * D);
}

// The row permutation from x_ext, [patches of every sample (rows b P + i); class tokens (rows
// cap P + b)], where the self-attention stage leaves its output and the class state is
// appended, to timm's torch.cat((x_cls, x), dim=1) order [b: class, patches]. The entries of
// sample b depend on b and the planned capacity `cap` only, so the first B Tn entries serve
// every batch B <= cap (and the inverse's patch rows the first B P, its class rows from cap P).
template <class T>
void CaitNet<T>::adopt() {
  std::swap(acts_, staged_);
  const int cap = acts_.B, P = cfg_.num_patches(), Tn = P + 1;
  std::vector<int32_t> idx(size_t(cap) * Tn), inv(size_t(cap) * Tn);
  for (int b = 0; b < cap; ++b)
    for (int t = 0; t < Tn; ++t) idx[size_t(b) * Tn + t] = t == 0 ? cap * P + b : b * P + t - 1;
  for (size_t r = 0; r < idx.size(); ++r) inv[size_t(idx[r])] = int32_t(r);
  b_.be->upload(acts_.cat_idx, idx.data(), idx.size() * sizeof(int32_t));
  b_.be->upload(acts_.cat_inv, inv.data(), inv.size() * sizeof(int32_t));
  b_.be->synchronize();  // the host vectors go out of scope
}

template <class T>
void CaitNet<T>::forward(const float* images, int B, uint64_t seed, bool train, T* logits) {
  Backend<T>* be = b_.be;
  Acts& Z = acts_;
  dy_b_ = Z.dy_b;
  const int P = cfg_.num_patches(), K = cfg_.patch_dim(), D = cfg_.width, M = cfg_.mlp_hidden,
            H = cfg_.heads, hd = cfg_.head_dim(), Tn = P + 1, BP = B * P, BT = B * Tn;
  const T eps = T(cfg_.ln_eps);
  be->patchify(Z.patches, images, B, cfg_.channels, cfg_.image_size, cfg_.patch);
  this->linear_fwd(Z.tok, Z.patches, Z.patches_b, o_.patch_w, o_.patch_b, BP, D, K);
  // x = patch tokens + pos_embed; the last self-attention block writes into x_ext's patch rows
  T* x = cfg_.depth > 0 ? Z.sa[0].x_in : Z.x_ext;
  be->broadcast_rows(x, prm(o_.pos), B, P * D);
  be->residual_fwd(x, x, Z.tok, size_t(BP) * D, DropoutSpec{});
  const AttnShape sh{B, P, H, hd};
  for (int l = 0; l < cfg_.depth; ++l) {
    SaActs& A = Z.sa[l];
    const SaOffsets& o = o_.sa[l];
    T* x_next = l + 1 < cfg_.depth ? Z.sa[l + 1].x_in : Z.x_ext;
    be->layernorm_fwd(A.ln1, A.mean1, A.rstd1, A.x_in, prm(o.ln1_w), prm(o.ln1_b), BP, D, eps);
    this->linear_fwd(A.qkv, A.ln1, A.ln1_b, o.qkv_w, o.qkv_b, BP, 3 * D, D);
    be->talking_heads_fwd(A.att, A.saved, A.qkv, prm(o.pl_w), prm(o.pl_b), prm(o.pw_w), prm(o.pw_b), sh);
    this->linear_fwd(A.br1, A.att, A.att_b, o.proj_w, o.proj_b, BP, D, D);
    be->layer_scale_fwd(Z.tmp, A.br1, prm(o.g1), BP, D);
    be->drop_path_fwd(A.x_mid, A.x_in, Z.tmp, B, size_t(P) * D, drop_path(seed, l, 0, train));
    be->layernorm_fwd(A.ln2, A.mean2, A.rstd2, A.x_mid, prm(o.ln2_w), prm(o.ln2_b), BP, D, eps);
    this->linear_fwd(A.fc1, A.ln2, A.ln2_b, o.fc1_w, o.fc1_b, BP, M, D);
    be->gelu_fwd(A.gelu, A.fc1, size_t(BP) * M, cfg_.gelu, DropoutSpec{});
    this->linear_fwd(A.br2, A.gelu, A.gelu_b, o.fc2_w, o.fc2_b, BP, D, M);
    be->layer_scale_fwd(Z.tmp, A.br2, prm(o.g2), BP, D);
    be->drop_path_fwd(x_next, A.x_mid, Z.tmp, B, size_t(P) * D, drop_path(seed, l, 1, train));
  }
  // class-attention stage: the class state starts as cls_token for every sample
  T* c = cfg_.class_depth > 0 ? Z.ca[0].c_in : Z.c_out;
  be->broadcast_rows(c, prm(o_.cls), B, D);
  const AttnShape cs{B, Tn, H, hd};
  for (int m = 0; m < cfg_.class_depth; ++m) {
    CaActs& A = Z.ca[m];
    const CaOffsets& o = o_.ca[m];
    T* c_next = m + 1 < cfg_.class_depth ? Z.ca[m + 1].c_in : Z.c_out;
    be->copy(Z.x_ext + size_t(Z.B) * P * D, A.c_in, size_t(B) * D);
    be->gather_rows(A.u, Z.x_ext, Z.cat_idx, BT, D);
    be->layernorm_fwd(A.un, A.mean1, A.rstd1, A.u, prm(o.ln1_w), prm(o.ln1_b), BT, D, eps);
    be->gather_cls(A.qin, A.un, B, Tn, D);
    this->linear_fwd(A.q, A.qin, A.qin_b, o.q_w, o.q_b, B, D, D);
    this->linear_fwd(A.k, A.un, A.un_b, o.k_w, o.k_b, BT, D, D);
    // bf16 mode: k's call rounded un into un_b already
    this->linear_fwd(A.v, this->bf16() ? nullptr : A.un, A.un_b, o.v_w, o.v_b, BT, D, D);
    be->class_attention_fwd(A.att, A.probs, A.q, A.k, A.v, cs);
    this->linear_fwd(A.br1, A.att, A.att_b, o.proj_w, o.proj_b, B, D, D);
    be->layer_scale_fwd(Z.dbr, A.br1, prm(o.g1), B, D);
    be->residual_fwd(A.c_mid, A.c_in, Z.dbr, size_t(B) * D, DropoutSpec{});
    be->layernorm_fwd(A.ln2, A.mean2, A.rstd2, A.c_mid, prm(o.ln2_w), prm(o.ln2_b), B, D, eps);
    this->linear_fwd(A.fc1, A.ln2, A.ln2_b, o.fc1_w, o.fc1_b, B, M, D);
    be->gelu_fwd(A.gelu, A.fc1, size_t(B) * M, cfg_.gelu, DropoutSpec{});
    this->linear_fwd(A.br2, A.gelu, A.gelu_b, o.fc2_w, o.fc2_b, B, D, M);
    be->layer_scale_fwd(Z.dbr, A.br2, prm(o.g2), B, D);
    be->residual_fwd(c_next, A.c_mid, Z.dbr, size_t(B) * D, DropoutSpec{});
  }
  // timm normalises every token, but only the class token reaches the head (LayerNorm is
  // row-wise): B rows.
  be->layernorm_fwd(Z.cn, Z.meanf, Z.rstdf, Z.c_out, prm(o_.norm_w), prm(o_.norm_b), B, D, eps);
  this->linear_fwd(logits, Z.cn, Z.cn_b, o_.head_w, o_.head_b, B, cfg_.num_classes, D);
}

template <class T>
void CaitNet<T>::backward(const T* dlogits, int B, uint64_t seed, bool train) {
  Backend<T>* be = b_.be;
  Acts& Z = acts_;
  dy_b_ = Z.dy_b;
  const int P = cfg_.num_patches(), K = cfg_.patch_dim(), D = cfg_.width, M = cfg_.mlp_hidden,
            H = cfg_.heads, hd = cfg_.head_dim(), Tn = P + 1, BP = B * P, BT = B * Tn;
  this->linear_bwd(Z.dcn, dlogits, Z.cn, Z.cn_b, o_.head_w, o_.head_b, B, cfg_.num_classes, D);
  be->layernorm_bwd(Z.dc, grd(o_.norm_w), grd(o_.norm_b), Z.dcn, Z.c_out, Z.meanf, Z.rstdf,
                    prm(o_.norm_w), B, D, false);
  // dx: the gradient of the self-attention stage's output, summed over the class blocks
  be->fill(Z.dx, T(0), size_t(BP) * D);
  const AttnShape cs{B, Tn, H, hd};
  for (int m = cfg_.class_depth - 1; m >= 0; --m) {
    CaActs& A = Z.ca[m];
    const CaOffsets& o = o_.ca[m];
    // c_next = c_mid + gamma_2 mlp(LN2(c_mid)):  dc holds d c_next
    be->layer_scale_bwd(Z.dbr, grd(o.g2), Z.dc, A.br2, prm(o.g2), B, D);
    this->linear_bwd(Z.dhid, Z.dbr, A.gelu, A.gelu_b, o.fc2_w, o.fc2_b, B, D, M);
    be->gelu_bwd(Z.dhid, Z.dhid, A.fc1, size_t(B) * M, cfg_.gelu, DropoutSpec{});
    this->linear_bwd(Z.dcn, Z.dhid, A.ln2, A.ln2_b, o.fc1_w, o.fc1_b, B, M, D);
    be->layernorm_bwd(Z.dc, grd(o.ln2_w), grd(o.ln2_b), Z.dcn, A.c_mid, A.mean2, A.rstd2,
                      prm(o.ln2_w), B, D, true);
    // c_mid = c_in + gamma_1 proj(class_attention(LN1([c_in, x]))):  dc holds d c_mid
    be->layer_scale_bwd(Z.dbr, grd(o.g1), Z.dc, A.br1, prm(o.g1), B, D);
    this->linear_bwd(Z.dcn, Z.dbr, A.att, A.att_b, o.proj_w, o.proj_b, B, D, D);
    be->class_attention_bwd(Z.dq, Z.dk, Z.dv, Z.dcn, A.q, A.k, A.v, A.probs, cs);
    this->linear_bwd(Z.dqin, Z.dq, A.qin, A.qin_b, o.q_w, o.q_b, B, D, D);
    this->linear_bwd(Z.dun, Z.dk, A.un, A.un_b, o.k_w, o.k_b, BT, D, D);
    this->linear_bwd(Z.dun2, Z.dv, A.un, A.un_b, o.v_w, o.v_b, BT, D, D);
    be->residual_fwd(Z.dun, Z.dun, Z.dun2, size_t(BT) * D, DropoutSpec{});
    be->scatter_cls(Z.dun2, Z.dqin, B, Tn, D);
    be->residual_fwd(Z.dun, Z.dun, Z.dun2, size_t(BT) * D, DropoutSpec{});
    be->layernorm_bwd(Z.du, grd(o.ln1_w), grd(o.ln1_b), Z.dun, A.u, A.mean1, A.rstd1,
                      prm(o.ln1_w), BT, D, false);
    // back to [patches; classes]: the patch rows feed dx, the class rows the class state
    be->gather_rows(Z.de, Z.du, Z.cat_inv, BP, D);
    be->gather_rows(Z.de + size_t(BP) * D, Z.du, Z.cat_inv + size_t(Z.B) * P, B, D);
    be->residual_fwd(Z.dx, Z.dx, Z.de, size_t(BP) * D, DropoutSpec{});
    be->residual_fwd(Z.dc, Z.dc, Z.de + size_t(BP) * D, size_t(B) * D, DropoutSpec{});
  }
  be->col_sum(grd(o_.cls), Z.dc, B, D, false);
  const AttnShape sh{B, P, H, hd};
  for (int l = cfg_.depth - 1; l >= 0; --l) {
    SaActs& A = Z.sa[l];
    const SaOffsets& o = o_.sa[l];
    // x_next = x_mid + drop_path(gamma_2 mlp(LN2(x_mid))):  dx holds d x_next
    be->drop_path_bwd(Z.dtmp, Z.dx, B, size_t(P) * D, drop_path(seed, l, 1, train));
    be->layer_scale_bwd(Z.dtmp, grd(o.g2), Z.dtmp, A.br2, prm(o.g2), BP, D);
    this->linear_bwd(Z.dhid, Z.dtmp, A.gelu, A.gelu_b, o.fc2_w, o.fc2_b, BP, D, M);
    be->gelu_bwd(Z.dhid, Z.dhid, A.fc1, size_t(BP) * M, cfg_.gelu, DropoutSpec{});
    this->linear_bwd(Z.dln, Z.dhid, A.ln2, A.ln2_b, o.fc1_w, o.fc1_b, BP, M, D);
    be->layernorm_bwd(Z.dx, grd(o.ln2_w), grd(o.ln2_b), Z.dln, A.x_mid, A.mean2, A.rstd2,
                      prm(o.ln2_w), BP, D, true);
    // x_mid = x_in + drop_path(gamma_1 proj(talking_heads(qkv(LN1(x_in))))):  dx holds d x_mid
    be->drop_path_bwd(Z.dtmp, Z.dx, B, size_t(P) * D, drop_path(seed, l, 0, train));
    be->layer_scale_bwd(Z.dtmp, grd(o.g1), Z.dtmp, A.br1, prm(o.g1), BP, D);
    this->linear_bwd(Z.datt, Z.dtmp, A.att, A.att_b, o.proj_w, o.proj_b, BP, D, D);
    be->talking_heads_bwd(Z.dqkv, grd(o.pl_w), grd(o.pl_b), grd(o.pw_w), grd(o.pw_b), Z.scratch,
                          Z.datt, A.qkv, A.saved, prm(o.pl_w), prm(o.pw_w), sh);
    this->linear_bwd(Z.dln, Z.dqkv, A.ln1, A.ln1_b, o.qkv_w, o.qkv_b, BP, 3 * D, D);
    be->layernorm_bwd(Z.dx, grd(o.ln1_w), grd(o.ln1_b), Z.dln, A.x_in, A.mean1, A.rstd1,
                      prm(o.ln1_w), BP, D, true);
  }
  // x = tok + pos_embed
  be->col_sum(grd(o_.pos), Z.dx, B, P * D, false);
  this->linear_bwd(nullptr, Z.dx, Z.patches, Z.patches_b, o_.patch_w, o_.patch_b, BP, D, K);
}

}  // namespace

void CaitFamily::apply(ModelConfig& c, const ConfigFields& extra) const {
  for (const auto& kv : extra) {
    const std::string& k = kv.first;
    if (kv.second.size() != 1) throw std::invalid_argument("config." + k + ": expected one number");
    const double v = kv.second[0];
    if (k == "dropPath") c.drop_path = float(v);
    else if (k == "layerScaleInit") c.layer_scale_init = float(v);
    else if (k == "classDepth") {
      if (!(v >= 0 && v <= 64 && v == std::floor(v)))
        throw std::invalid_argument("config.classDepth: expected an integer in [0, 64], got " + std::to_string(v));
      c.class_depth = int(v);
    } else throw std::invalid_argument("config." + k + ": not a field of the cait family");
  }
}

void CaitFamily::validate(const ModelConfig& c) const {
  auto bad = [](const std::string& field, const std::string& why) {
    throw std::invalid_argument("config." + field + ": " + why);
  };
  if (c.image_size < 1) bad("imageSize", "expected an integer >= 1");
  if (c.channels < 1 || c.channels > 64) bad("channels", "expected an integer in [1, 64]");
  if (c.patch < 1 || c.image_size % c.patch != 0)
    bad("patchSize", "got " + std::to_string(c.patch) + ", expected a divisor of imageSize " + std::to_string(c.image_size));
  if (c.num_classes < 2) bad("numClasses", "expected an integer >= 2");
  if (c.width < 1) bad("width", "expected an integer >= 1");
  if (c.depth < 0) bad("depth", "expected an integer >= 0");
  if (c.heads < 1 || c.width % c.heads != 0)
    bad("heads", "got " + std::to_string(c.heads) + ", expected a divisor of width " + std::to_string(c.width));
  if (c.mlp_hidden < 1) bad("mlpHidden", "expected an integer >= 1");
  if (c.dropout != 0.0f) bad("dropout", "the cait family has no dropout sites (expected 0; dropPath is its regulariser)");
  if (!(c.drop_path >= 0.0f && c.drop_path < 1.0f)) bad("dropPath", "expected a number in [0, 1)");
  if (!(c.layer_scale_init >= 0.0f && std::isfinite(c.layer_scale_init)))
    bad("layerScaleInit", "expected a finite number >= 0 (0 = by depth)");
}

ParamLayout CaitFamily::layout(const ModelConfig& c) const {
  ParamLayout L;
  build_layout(c, &L);
  return L;
}

std::unique_ptr<Net<float>> CaitFamily::make_f32(const ModelConfig& c, const ParamLayout&) const {
  return std::make_unique<CaitNet<float>>(c);
}
std::unique_ptr<Net<double>> CaitFamily::make_f64(const ModelConfig& c, const ParamLayout&) const {
  return std::make_unique<CaitNet<double>>(c);
}

}  // namespace grwarm
