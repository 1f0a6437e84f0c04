#include "swin.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "window_index.h"

namespace grwarm {

namespace {

// The geometry of one stage: side of its token grid, channels, heads, window (clipped to the
// side as timm does, with the shift dropped when the window covers the whole stage).
struct Stage {
  int side, C, heads, win, shift, depth, mlp;
  int N() const { return win * win; }
  int windows() const { return (side / win) * (side / win); }
  int R() const { return (2 * win - 1) * (2 * win - 1); }  // relative position table rows
};

std::vector<Stage> stages(const ModelConfig& c) {
  std::vector<Stage> out;
  int side = c.image_size / c.patch, C = c.embed_dim;
  for (size_t s = 0; s < c.depths.size(); ++s) {
    if (s > 0) {
      side /= 2;
      C *= 2;
    }
    Stage st;
    st.side = side;
    st.C = C;
    st.heads = c.stage_heads[s];
    st.win = std::min(c.window, side);
    st.shift = c.window < side ? c.window / 2 : 0;
    st.depth = c.depths[s];
    st.mlp = int(std::lround(double(C) * c.mlp_ratio));
    out.push_back(st);
  }
  return out;
}

struct BlockOffsets {
  size_t ln1_w, ln1_b, table, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
};
struct StageOffsets {
  size_t ds_ln_w = 0, ds_ln_b = 0, ds_red = 0;  // stages 1..: the patch merging before the blocks
  std::vector<BlockOffsets> blocks;
};
struct Offsets {
  size_t patch_w, patch_b, pe_ln_w, pe_ln_b, norm_w, norm_b, head_w, head_b;
  std::vector<StageOffsets> stages;
};

Offsets build_layout(const ModelConfig& c, ParamLayout* L) {
  const std::vector<Stage> S = stages(c);
  Offsets o;
  const int C0 = c.embed_dim, P = c.patch;
  o.patch_w = L->add("patch_embed.proj.weight", {C0, c.channels, P, P}, InitKind::LecunNormal, true);
  o.patch_b = L->add("patch_embed.proj.bias", {C0}, InitKind::Zeros, false);
  o.pe_ln_w = L->add("patch_embed.norm.weight", {C0}, InitKind::Ones, false);
  o.pe_ln_b = L->add("patch_embed.norm.bias", {C0}, InitKind::Zeros, false);
  for (size_t s = 0; s < S.size(); ++s) {
    const Stage& st = S[s];
    const int C = st.C;
    StageOffsets so;
    const std::string p = "layers." + std::to_string(s) + ".";
    if (s > 0) {
      const int Cp = S[s - 1].C;
      so.ds_ln_w = L->add(p + "downsample.norm.weight", {4 * Cp}, InitKind::Ones, false);
      so.ds_ln_b = L->add(p + "downsample.norm.bias", {4 * Cp}, InitKind::Zeros, false);
      so.ds_red = L->add(p + "downsample.reduction.weight", {C, 4 * Cp}, InitKind::TruncNormal, true, 0.02f);
    }
    for (int m = 0; m < st.depth; ++m) {
      const std::string b = p + "blocks." + std::to_string(m) + ".";
      BlockOffsets k;
      k.ln1_w = L->add(b + "norm1.weight", {C}, InitKind::Ones, false);
      k.ln1_b = L->add(b + "norm1.bias", {C}, InitKind::Zeros, false);
      k.table = L->add(b + "attn.relative_position_bias_table", {st.R(), st.heads}, InitKind::TruncNormal, false, 0.02f);
      k.qkv_w = L->add(b + "attn.qkv.weight", {3 * C, C}, InitKind::TruncNormal, true, 0.02f);
      k.qkv_b = L->add(b + "attn.qkv.bias", {3 * C}, InitKind::Zeros, false);
      k.proj_w = L->add(b + "attn.proj.weight", {C, C}, InitKind::TruncNormal, true, 0.02f);
      k.proj_b = L->add(b + "attn.proj.bias", {C}, InitKind::Zeros, false);
      k.ln2_w = L->add(b + "norm2.weight", {C}, InitKind::Ones, false);
      k.ln2_b = L->add(b + "norm2.bias", {C}, InitKind::Zeros, false);
      k.fc1_w = L->add(b + "mlp.fc1.weight", {st.mlp, C}, InitKind::TruncNormal, true, 0.02f);
      k.fc1_b = L->add(b + "mlp.fc1.bias", {st.mlp}, InitKind::Zeros, false);
      k.fc2_w = L->add(b + "mlp.fc2.weight", {C, st.mlp}, InitKind::TruncNormal, true, 0.02f);
      k.fc2_b = L->add(b + "mlp.fc2.bias", {C}, InitKind::Zeros, false);
      so.blocks.push_back(k);
    }
    o.stages.push_back(so);
  }
  const int Cl = S.back().C;
  o.norm_w = L->add("norm.weight", {Cl}, InitKind::Ones, false);
  o.norm_b = L->add("norm.bias", {Cl}, InitKind::Zeros, false);
  o.head_w = L->add("head.fc.weight", {c.num_classes, Cl}, InitKind::TruncNormal, true, 0.02f);
  o.head_b = L->add("head.fc.bias", {c.num_classes}, InitKind::Zeros, false);
  return o;
}

// timm's relative_position_index: token i = (yi, xi) of a win x win window attends to j with
// table row (yi - yj + win - 1) * (2 win - 1) + (xi - xj + win - 1). As a one-hot matrix
// E [N*N, R], so the bias is a GEMM of the table (and its gradient the transposed GEMM).
std::vector<double> relative_onehot(int win) {
  const int N = win * win, R = (2 * win - 1) * (2 * win - 1);
  std::vector<double> E(size_t(N) * N * R, 0.0);
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < N; ++j) {
      const int r = (i / win - j / win + win - 1) * (2 * win - 1) + (i % win - j % win + win - 1);
      E[(size_t(i) * N + j) * R + r] = 1.0;
    }
  return E;
}

// timm's attention mask of a shifted block, broadcast over heads: [nW, H, N, N], -100 between
// tokens from different regions of the rolled image, 0 otherwise (all 0 without a shift).
std::vector<double> shift_mask(const Stage& st) {
  const int N = st.N(), win = st.win, side = st.side, nWx = side / win;
  std::vector<double> M(size_t(st.windows()) * st.heads * N * N, 0.0);
  if (st.shift == 0) return M;
  auto region = [&](int v) { return v < side - win ? 0 : v < side - st.shift ? 1 : 2; };
  for (int w = 0; w < st.windows(); ++w) {
    std::vector<int> label(N);
    for (int t = 0; t < N; ++t) {
      const int hh = (w / nWx) * win + t / win, ww = (w % nWx) * win + t % win;
      label[t] = region(hh) * 3 + region(ww);
    }
    for (int h = 0; h < st.heads; ++h)
      for (int i = 0; i < N; ++i)
        for (int j = 0; j < N; ++j)
          M[((size_t(w) * st.heads + h) * N + i) * N + j] = label[i] != label[j] ? -100.0 : 0.0;
  }
  return M;
}

template <class T>
class SwinNet final : public Net<T> {
  using Net<T>::b_, Net<T>::dy_b_, Net<T>::prm, Net<T>::grd;

 public:
  explicit SwinNet(const ModelConfig& c) : cfg_(c), S_(stages(c)) {
    cfg_.ln_eps = 1e-5f;  // timm's and torchvision's Swin use nn.LayerNorm's default eps
    ParamLayout scratch;
    o_ = build_layout(c, &scratch);
  }
  void plan(Arena<T>& a, int B) override;
  void adopt() override;
  void forward(const float* images, int B, uint64_t seed, bool train, T* logits) override;
  void backward(const T* dlogits, int B, uint64_t seed, bool train) override;

 private:
  struct BlockActs {
    T *x_in, *ln1, *mean1, *rstd1, *xw, *qkv, *probs, *att, *x_mid, *ln2, *mean2, *rstd2, *fc1, *gelu;
    uint16_t *xw_b = nullptr, *att_b = nullptr, *ln2_b = nullptr, *gelu_b = nullptr;
  };
  struct StageActs {
    T *merged = nullptr, *ds_ln = nullptr, *ds_mean = nullptr, *ds_rstd = nullptr;
    uint16_t* ds_ln_b = nullptr;
    std::vector<BlockActs> blocks;
    // constants: row permutations (batched), the relative-position one-hot, the shift mask
    int32_t *part[2] = {nullptr, nullptr}, *rev[2] = {nullptr, nullptr}, *merge = nullptr,
            *unmerge = nullptr;
    T *onehot = nullptr, *mask = nullptr;
  };
  struct Acts {
    std::vector<StageActs> st;
    int B = 0;
    T *patches, *tok, *pe_mean, *pe_rstd, *x_out, *lnf, *meanf, *rstdf, *pooled;
    uint16_t *patches_b = nullptr, *pooled_b = nullptr, *dy_b = nullptr;
    T *bias, *bias_h, *tmp, *dx, *dtmp, *dln, *dhid, *dqkv, *datt, *dscores, *dpooled, *dpatch;
  };

  // Stochastic depth of block `m` of stage `si`: timm's rate, linear from 0 at the first block
  // to drop_path at the last; one site per residual branch, masks keyed by the sample.
  DropoutSpec drop_path(uint64_t seed, size_t si, int m, int branch, bool train) const {
    int k = m, total = 0;
    for (size_t s = 0; s < S_.size(); ++s) {
      if (s < si) k += S_[s].depth;
      total += S_[s].depth;
    }
    const float rate = total > 1 ? cfg_.drop_path * float(k) / float(total - 1) : 0.0f;
    return Net<T>::drop(seed, uint32_t(1000 + 2 * k + branch), train, rate, 1);
  }

  ModelConfig cfg_;
  std::vector<Stage> S_;
  Offsets o_;
  Acts acts_, staged_;
};

template <class T>
void SwinNet<T>::plan(Arena<T>& a, int B) {
  const bool bf = b_.bf != nullptr;
  Acts& s = staged_;
  s = Acts{};
  s.B = B;
  s.st.resize(S_.size());
  const size_t P = size_t(cfg_.num_patches()), K = cfg_.patch_dim(), C0 = S_[0].C;
  size_t max_act = 0, max_hid = 0, max_scores = 0, max_bias = 0, max_bh = 0, max_dy = 0;
  for (size_t si = 0; si < S_.size(); ++si) {
    const Stage& st = S_[si];
    StageActs& A = s.st[si];
    const size_t L = size_t(st.side) * st.side, BL = size_t(B) * L, C = st.C, M = st.mlp,
                 N = st.N(), nW = st.windows(), H = st.heads;
    if (si > 0) {
      const size_t Cp = S_[si - 1].C;
      a.plan(&A.merged, BL * 4 * Cp);
      a.plan(&A.ds_ln, BL * 4 * Cp);
      a.plan(&A.ds_mean, BL);
      a.plan(&A.ds_rstd, BL);
      if (bf) a.plan(&A.ds_ln_b, BL * 4 * Cp);
      a.plan(&A.merge, size_t(B) * S_[si - 1].side * S_[si - 1].side);
      a.plan(&A.unmerge, size_t(B) * S_[si - 1].side * S_[si - 1].side);
      max_act = std::max(max_act, BL * 4 * Cp);
      max_dy = std::max(max_dy, BL * C);
    }
    for (int k = 0; k < 2; ++k) {
      a.plan(&A.part[k], BL);
      a.plan(&A.rev[k], BL);
    }
    a.plan(&A.onehot, N * N * size_t(st.R()));
    a.plan(&A.mask, nW * H * N * N);
    A.blocks.assign(st.depth, BlockActs{});
    for (BlockActs& b : A.blocks) {
      a.plan(&b.x_in, BL * C);
      a.plan(&b.ln1, BL * C);
      a.plan(&b.mean1, BL);
      a.plan(&b.rstd1, BL);
      a.plan(&b.xw, BL * C);
      a.plan(&b.qkv, BL * 3 * C);
      a.plan(&b.probs, size_t(B) * nW * H * N * N);
      a.plan(&b.att, BL * C);
      a.plan(&b.x_mid, BL * C);
      a.plan(&b.ln2, BL * C);
      a.plan(&b.mean2, BL);
      a.plan(&b.rstd2, BL);
      a.plan(&b.fc1, BL * M);
      a.plan(&b.gelu, BL * M);
      if (bf) {
        a.plan(&b.xw_b, BL * C);
        a.plan(&b.att_b, BL * C);
        a.plan(&b.ln2_b, BL * C);
        a.plan(&b.gelu_b, BL * M);
      }
    }
    max_act = std::max(max_act, BL * 3 * C);
    max_hid = std::max(max_hid, BL * M);
    max_scores = std::max(max_scores, size_t(B) * nW * H * N * N);
    max_bias = std::max(max_bias, nW * H * N * N);
    max_bh = std::max(max_bh, H * N * N);
    max_dy = std::max({max_dy, BL * 3 * C, BL * M});
  }
  const size_t Cl = S_.back().C, Ll = size_t(S_.back().side) * S_.back().side;
  a.plan(&s.patches, size_t(B) * P * K);
  a.plan(&s.tok, size_t(B) * P * C0);
  a.plan(&s.pe_mean, size_t(B) * P);
  a.plan(&s.pe_rstd, size_t(B) * P);
  a.plan(&s.x_out, size_t(B) * Ll * Cl);
  a.plan(&s.lnf, size_t(B) * Ll * Cl);
  a.plan(&s.meanf, size_t(B) * Ll);
  a.plan(&s.rstdf, size_t(B) * Ll);
  a.plan(&s.pooled, size_t(B) * Cl);
  if (bf) {
    a.plan(&s.patches_b, size_t(B) * P * K);
    a.plan(&s.pooled_b, size_t(B) * Cl);
    a.plan(&s.dy_b, std::max({max_dy, size_t(B) * P * C0, size_t(B) * cfg_.num_classes}));
  }
  a.plan(&s.bias, max_bias);
  a.plan(&s.bias_h, max_bh);
  a.plan(&s.tmp, max_act);
  a.plan(&s.dx, max_act);
  a.plan(&s.dtmp, max_act);
  a.plan(&s.dln, max_act);
  a.plan(&s.dhid, max_hid);
  a.plan(&s.dqkv, max_act);
  a.plan(&s.datt, max_act);
  a.plan(&s.dscores, max_scores);
  a.plan(&s.dpooled, size_t(B) * Cl);
  a.plan(&s.dpatch, size_t(B) * P * C0);
}

// Uploads the batch-sized constants (permutations) and the per-stage ones.
template <class T>
void SwinNet<T>::adopt() {
  std::swap(acts_, staged_);
  Backend<T>* be = b_.be;
  const int B = acts_.B;
  auto up_i = [&](int32_t* dst, const std::vector<int32_t>& v) {
    be->upload(dst, v.data(), v.size() * sizeof(int32_t));
  };
  auto up_t = [&](T* dst, const std::vector<double>& v) {
    std::vector<T> t(v.begin(), v.end());
    be->upload(dst, t.data(), t.size() * sizeof(T));
  };
  for (size_t si = 0; si < S_.size(); ++si) {
    const Stage& st = S_[si];
    StageActs& A = acts_.st[si];
    for (int k = 0; k < 2; ++k) {
      const int shift = k == 1 ? st.shift : 0;
      const std::vector<int32_t> p = window_partition_index(st.side, st.side, st.win, shift);
      up_i(A.part[k], batched(p, B));
      up_i(A.rev[k], batched(inverse_permutation(p), B));
    }
    if (si > 0) {
      const int sp = S_[si - 1].side;
      const std::vector<int32_t> m = patch_merge_index(sp, sp);
      up_i(A.merge, batched(m, B));
      up_i(A.unmerge, batched(inverse_permutation(m), B));
    }
    up_t(A.onehot, relative_onehot(st.win));
    up_t(A.mask, shift_mask(st));
  }
  be->synchronize();  // the host vectors go out of scope
}

template <class T>
void SwinNet<T>::forward(const float* images, int B, uint64_t seed, bool train, T* logits) {
  Backend<T>* be = b_.be;
  Acts& Z = acts_;
  dy_b_ = Z.dy_b;
  const float eps = cfg_.ln_eps;
  const int P = cfg_.num_patches(), K = cfg_.patch_dim(), C0 = S_[0].C;
  be->patchify(Z.patches, images, B, cfg_.channels, cfg_.image_size, cfg_.patch);
  this->linear_fwd(Z.tok, Z.patches, Z.patches_b, o_.patch_w, o_.patch_b, B * P, C0, K);
  T* x = nullptr;
  for (size_t si = 0; si < S_.size(); ++si) {
    const Stage& st = S_[si];
    StageActs& A = Z.st[si];
    const StageOffsets& so = o_.stages[si];
    const int L = st.side * st.side, BL = B * L, C = st.C, M = st.mlp, N = st.N(), H = st.heads,
              nW = st.windows();
    T* first = st.depth > 0 ? A.blocks[0].x_in : nullptr;
    T* stage_out = nullptr;
    // the stage input, x [B*L, C]
    if (si == 0) {
      stage_out = first ? first : Z.x_out;
      be->layernorm_fwd(stage_out, Z.pe_mean, Z.pe_rstd, Z.tok, prm(o_.pe_ln_w), prm(o_.pe_ln_b),
                        B * P, C0, T(eps));
    } else {
      const int Cp = S_[si - 1].C;
      be->gather_rows(A.merged, x, A.merge, BL * 4, Cp);
      be->layernorm_fwd(A.ds_ln, A.ds_mean, A.ds_rstd, A.merged, prm(so.ds_ln_w), prm(so.ds_ln_b), BL,
                        4 * Cp, T(eps));
      stage_out = first ? first : Z.x_out;
      this->linear_fwd(stage_out, A.ds_ln, A.ds_ln_b, so.ds_red, Net<T>::kNoBias, BL, C, 4 * Cp);
    }
    x = stage_out;
    for (int m = 0; m < st.depth; ++m) {
      BlockActs& b = A.blocks[m];
      const BlockOffsets& k = so.blocks[m];
      const int sh = (m % 2 == 1 && st.shift > 0) ? 1 : 0;
      const bool last_block = m + 1 == st.depth;
      // The last block of a stage writes into scratch that the next stage's merge gathers from
      // (the backward pass needs nothing of it), the last block of all into x_out.
      T* x_next = !last_block ? A.blocks[m + 1].x_in : si + 1 < S_.size() ? Z.tmp : Z.x_out;
      // bias [nW, H, N, N] = table^T E^T broadcast over windows + the shift mask
      be->gemm(Trans::Yes, Trans::Yes, H, N * N, st.R(), T(1), prm(k.table), H, A.onehot, st.R(), T(0),
               Z.bias_h, N * N);
      be->broadcast_rows(Z.bias, Z.bias_h, nW, H * N * N);
      if (sh) be->residual_fwd(Z.bias, Z.bias, A.mask, size_t(nW) * H * N * N, DropoutSpec{});
      be->layernorm_fwd(b.ln1, b.mean1, b.rstd1, b.x_in, prm(k.ln1_w), prm(k.ln1_b), BL, C, T(eps));
      be->gather_rows(b.xw, b.ln1, A.part[sh], BL, C);
      this->linear_fwd(b.qkv, b.xw, b.xw_b, k.qkv_w, k.qkv_b, BL, 3 * C, C);
      be->attention_bias_fwd(b.att, b.probs, b.qkv, Z.bias, nW, AttnShape{B * nW, N, H, C / H});
      this->linear_fwd(Z.dtmp, b.att, b.att_b, k.proj_w, k.proj_b, BL, C, C);
      be->gather_rows(Z.dln, Z.dtmp, A.rev[sh], BL, C);
      be->drop_path_fwd(b.x_mid, b.x_in, Z.dln, B, size_t(L) * C, drop_path(seed, si, m, 0, train));
      be->layernorm_fwd(b.ln2, b.mean2, b.rstd2, b.x_mid, prm(k.ln2_w), prm(k.ln2_b), BL, C, T(eps));
      this->linear_fwd(b.fc1, b.ln2, b.ln2_b, k.fc1_w, k.fc1_b, BL, M, C);
      be->gelu_fwd(b.gelu, b.fc1, size_t(BL) * M, cfg_.gelu, DropoutSpec{});
      this->linear_fwd(Z.dtmp, b.gelu, b.gelu_b, k.fc2_w, k.fc2_b, BL, C, M);
      be->drop_path_fwd(x_next, b.x_mid, Z.dtmp, B, size_t(L) * C, drop_path(seed, si, m, 1, train));
      x = x_next;
    }
  }
  const Stage& sl = S_.back();
  const int Ll = sl.side * sl.side, Cl = sl.C;
  be->layernorm_fwd(Z.lnf, Z.meanf, Z.rstdf, Z.x_out, prm(o_.norm_w), prm(o_.norm_b), B * Ll, Cl, T(eps));
  be->mean_tokens_fwd(Z.pooled, Z.lnf, B, Ll, Cl);
  this->linear_fwd(logits, Z.pooled, Z.pooled_b, o_.head_w, o_.head_b, B, cfg_.num_classes, Cl);
}

template <class T>
void SwinNet<T>::backward(const T* dlogits, int B, uint64_t seed, bool train) {
  Backend<T>* be = b_.be;
  Acts& Z = acts_;
  dy_b_ = Z.dy_b;
  const Stage& sl = S_.back();
  const int Ll = sl.side * sl.side, Cl = sl.C;
  this->linear_bwd(Z.dpooled, dlogits, Z.pooled, Z.pooled_b, o_.head_w, o_.head_b, B,
                   cfg_.num_classes, Cl);
  be->mean_tokens_bwd(Z.dln, Z.dpooled, B, Ll, Cl);
  be->layernorm_bwd(Z.dx, grd(o_.norm_w), grd(o_.norm_b), Z.dln, Z.x_out, Z.meanf, Z.rstdf,
                    prm(o_.norm_w), B * Ll, Cl, false);
  for (int si = int(S_.size()) - 1; si >= 0; --si) {
    const Stage& st = S_[si];
    StageActs& A = Z.st[si];
    const StageOffsets& so = o_.stages[si];
    const int L = st.side * st.side, BL = B * L, C = st.C, M = st.mlp, N = st.N(), H = st.heads,
              nW = st.windows();
    for (int m = st.depth - 1; m >= 0; --m) {
      BlockActs& b = A.blocks[m];
      const BlockOffsets& k = so.blocks[m];
      const int sh = (m % 2 == 1 && st.shift > 0) ? 1 : 0;
      // x_next = x_mid + drop_path(fc2(gelu(fc1(LN2(x_mid))))):  dx holds d x_next
      be->drop_path_bwd(Z.datt, Z.dx, B, size_t(L) * C, drop_path(seed, si, m, 1, train));
      this->linear_bwd(Z.dhid, Z.datt, b.gelu, b.gelu_b, k.fc2_w, k.fc2_b, BL, C, M);
      be->gelu_bwd(Z.dhid, Z.dhid, b.fc1, size_t(BL) * M, cfg_.gelu, DropoutSpec{});
      this->linear_bwd(Z.dln, Z.dhid, b.ln2, b.ln2_b, k.fc1_w, k.fc1_b, BL, M, C);
      be->layernorm_bwd(Z.dx, grd(k.ln2_w), grd(k.ln2_b), Z.dln, b.x_mid, b.mean2, b.rstd2,
                        prm(k.ln2_w), BL, C, true);
      // x_mid = x_in + reverse(proj(attention(qkv(partition(LN1(x_in)))))):  dx holds d x_mid
      be->drop_path_bwd(Z.datt, Z.dx, B, size_t(L) * C, drop_path(seed, si, m, 0, train));
      be->gather_rows(Z.dtmp, Z.datt, A.part[sh], BL, C);  // the reverse's adjoint: the partition
      this->linear_bwd(Z.datt, Z.dtmp, b.att, b.att_b, k.proj_w, k.proj_b, BL, C, C);
      be->attention_bias_bwd(Z.dqkv, Z.dscores, Z.datt, b.qkv, b.probs, AttnShape{B * nW, N, H, C / H});
      // the table's gradient: the bias gradient summed over every window sequence, then E^T
      be->col_sum(Z.bias_h, Z.dscores, B * nW, H * N * N, false);
      be->gemm(Trans::Yes, Trans::Yes, st.R(), H, N * N, T(1), A.onehot, st.R(), Z.bias_h, N * N,
               T(0), grd(k.table), H);
      this->linear_bwd(Z.dtmp, Z.dqkv, b.xw, b.xw_b, k.qkv_w, k.qkv_b, BL, 3 * C, C);
      be->gather_rows(Z.dln, Z.dtmp, A.rev[sh], BL, C);
      be->layernorm_bwd(Z.dx, grd(k.ln1_w), grd(k.ln1_b), Z.dln, b.x_in, b.mean1, b.rstd1,
                        prm(k.ln1_w), BL, C, true);
    }
    // dx holds the gradient of the stage input
    if (si > 0) {
      const int Cp = S_[si - 1].C;
      this->linear_bwd(Z.dln, Z.dx, A.ds_ln, A.ds_ln_b, so.ds_red, Net<T>::kNoBias, BL, C, 4 * Cp);
      be->layernorm_bwd(Z.dtmp, grd(so.ds_ln_w), grd(so.ds_ln_b), Z.dln, A.merged, A.ds_mean,
                        A.ds_rstd, prm(so.ds_ln_w), BL, 4 * Cp, false);
      be->gather_rows(Z.dx, Z.dtmp, A.unmerge, BL * 4, Cp);
    } else {
      const int P = cfg_.num_patches(), K = cfg_.patch_dim(), C0 = S_[0].C;
      be->layernorm_bwd(Z.dln, grd(o_.pe_ln_w), grd(o_.pe_ln_b), Z.dx, Z.tok, Z.pe_mean,
                        Z.pe_rstd, prm(o_.pe_ln_w), B * P, C0, false);
      this->linear_bwd(nullptr, Z.dln, Z.patches, Z.patches_b, o_.patch_w, o_.patch_b, B * P, C0, K);
    }
  }
}

}  // namespace

namespace {
std::vector<int> ints(const std::string& key, const std::vector<double>& v) {
  std::vector<int> out;
  for (double d : v) {
    if (!(d >= 1 && d <= 1 << 16 && d == std::floor(d)))
      throw std::invalid_argument("config." + key + ": expected integers >= 1, got " + std::to_string(d));
    out.push_back(int(d));
  }
  return out;
}
}  // namespace

void SwinFamily::apply(ModelConfig& c, const ConfigFields& extra) const {
  for (const auto& kv : extra) {
    const std::string& k = kv.first;
    const std::vector<double>& v = kv.second;
    auto one = [&] {
      if (v.size() != 1) throw std::invalid_argument("config." + k + ": expected one number");
      return v[0];
    };
    if (k == "embedDim") c.embed_dim = ints(k, {one()})[0];
    else if (k == "depths") c.depths = ints(k, v);
    else if (k == "stageHeads") c.stage_heads = ints(k, v);
    else if (k == "window") c.window = ints(k, {one()})[0];
    else if (k == "mlpRatio") c.mlp_ratio = float(one());
    else if (k == "dropPath") c.drop_path = float(one());
    else throw std::invalid_argument("config." + k + ": not a field of the swin family");
  }
}

void SwinFamily::validate(const ModelConfig& c) const {
  auto bad = [](const std::string& field, const std::string& why) {
    throw std::invalid_argument("config." + field + ": " + why);
  };
  if (c.channels < 1 || c.channels > 64) bad("channels", "expected an integer in [1, 64]");
  if (c.num_classes < 2) bad("numClasses", "expected an integer >= 2");
  if (c.patch < 1 || c.image_size % c.patch != 0)
    bad("patchSize", "got " + std::to_string(c.patch) + ", expected a divisor of imageSize " + std::to_string(c.image_size));
  if (c.depths.empty() || c.depths.size() != c.stage_heads.size())
    bad("depths", "expected one depth per stage and as many stageHeads");
  if (c.embed_dim < 1) bad("embedDim", "expected an integer >= 1");
  if (c.window < 1) bad("window", "expected an integer >= 1");
  if (!(c.mlp_ratio > 0)) bad("mlpRatio", "expected a number > 0");
  if (c.dropout != 0.0f) bad("dropout", "the swin family has no dropout sites yet (expected 0)");
  if (!(c.drop_path >= 0.0f && c.drop_path < 1.0f)) bad("dropPath", "expected a number in [0, 1)");
  int side = c.image_size / c.patch;
  for (size_t s = 0; s < c.depths.size(); ++s) {
    if (s > 0) {
      if (side % 2 != 0)
        bad("imageSize", "stage " + std::to_string(s) + " merges 2x2 tokens of a side of " + std::to_string(side) + " (expected even)");
      side /= 2;
    }
    const int C = c.embed_dim << s, win = std::min(c.window, side);
    if (side % win != 0)
      bad("window", "stage " + std::to_string(s) + " has " + std::to_string(side) + " tokens a side, not a multiple of the window " + std::to_string(win) + " (padding is not supported)");
    if (C % c.stage_heads[s] != 0)
      bad("stageHeads", "stage " + std::to_string(s) + ": " + std::to_string(c.stage_heads[s]) + " heads do not divide " + std::to_string(C) + " channels");
  }
}

ParamLayout SwinFamily::layout(const ModelConfig& c) const {
  ParamLayout L;
  build_layout(c, &L);
  return L;
}

std::unique_ptr<Net<float>> SwinFamily::make_f32(const ModelConfig& c, const ParamLayout&) const {
  return std::make_unique<SwinNet<float>>(c);
}
std::unique_ptr<Net<double>> SwinFamily::make_f64(const ModelConfig& c, const ParamLayout&) const {
  return std::make_unique<SwinNet<double>>(c);
}

}  // namespace grwarm
