#include "family.h"

#include <stdexcept>

#include "families/cait.h"
#include "families/swin.h"
#include "families/vit.h"
#include "grwarm/dropout.h"

namespace grwarm {

namespace {
// The registry: one line per family.
const std::vector<const Family*>& families() {
  static const VitFamily vit;
  static const SwinFamily swin;
  static const CaitFamily cait;
  static const std::vector<const Family*> all = {&vit, &swin, &cait};
  return all;
}
}  // namespace

const Family& find_family(const std::string& name) {
  std::string known;
  for (const Family* f : families()) {
    if (f->name() == name) return *f;
    known += (known.empty() ? "\"" : ", \"") + f->name() + "\"";
  }
  throw std::invalid_argument("config.family: got \"" + name + "\", expected one of " + known);
}

std::vector<std::string> family_names() {
  std::vector<std::string> out;
  for (const Family* f : families()) out.push_back(f->name());
  return out;
}

void validate_config(const ModelConfig& c) { find_family(c.family).validate(c); }

ParamLayout ParamLayout::build(const ModelConfig& c) { return find_family(c.family).layout(c); }

// ---- Net helpers shared by every family ------------------------------------------------------

template <class T>
DropoutSpec Net<T>::drop(uint64_t seed, uint32_t site, bool train, float rate,
                         uint64_t per_sample) const {
  DropoutSpec d = make_dropout(mix64(seed + 0x51ed2701ULL), site, train ? rate : 0.0f);
  if (b_.sample_offset != 0) d.index_offset = b_.sample_offset * per_sample;
  return d;
}

template <class T>
void Net<T>::linear_fwd(T* y, const T* x, uint16_t* x_b, size_t w, size_t b, int rows, int out,
                        int in) {
  if (b_.bf) {
    if (x) b_.bf->round_bf16(x_b, f32(x), size_t(rows) * in);
    if (b == kNoBias)
      b_.bf->gemm_bf16(Trans::No, Trans::Yes, rows, out, in, x_b, in, b_.params_b + w, in, 0.0f,
                       f32(y), out);
    else
      b_.bf->linear_fwd_bf16(f32(y), x_b, b_.params_b + w, f32(prm(b)), rows, out, in);
    return;
  }
  if (b == kNoBias)
    b_.be->gemm(Trans::No, Trans::Yes, rows, out, in, T(1), x, in, prm(w), in, T(0), y, out);
  else
    b_.be->linear_fwd(y, x, prm(w), prm(b), rows, out, in);
}

template <class T>
void Net<T>::linear_residual_fwd(T* x_out, const T* x_res, T* tmp, const T* x, uint16_t* x_b,
                                 size_t w, size_t b, int rows, int out, int in,
                                 const DropoutSpec& drop) {
  if (!drop.active() && b != kNoBias) {
    bool fused;
    if (b_.bf) {
      if (x) b_.bf->round_bf16(x_b, f32(x), size_t(rows) * in);
      fused = b_.bf->linear_residual_fwd_bf16(f32(x_out), f32(x_res), x_b, b_.params_b + w,
                                              f32(prm(b)), rows, out, in);
      x = nullptr;  // x_b holds the rounded input now
    } else {
      fused = b_.be->linear_residual_fwd(x_out, x_res, x, prm(w), prm(b), rows, out, in);
    }
    if (fused) return;
  }
  linear_fwd(tmp, x, x_b, w, b, rows, out, in);
  b_.be->residual_fwd(x_out, x_res, tmp, size_t(rows) * out, drop);
}

// Gradients are written, not added: each parameter is used exactly once per forward pass. The
// bias gradient sums dy in T (in bf16 mode in the same pass that rounds dy).
template <class T>
void Net<T>::linear_bwd(T* dx, const T* dy, const T* x, const uint16_t* x_b, size_t w, size_t b,
                        int rows, int out, int in) {
  if (b_.bf) {
    if (b == kNoBias)
      b_.bf->round_bf16(dy_b_, f32(dy), size_t(rows) * out);
    else
      b_.bf->col_sum_round_bf16(f32(grd(b)), dy_b_, f32(dy), rows, out, DropoutSpec{});
    linear_bwd_rounded(dx, x_b, w, rows, out, in);
    return;
  }
  Backend<T>* be = b_.be;
  be->gemm(Trans::Yes, Trans::No, out, in, rows, T(1), dy, out, x, in, T(0), grd(w), in);
  if (b != kNoBias) be->col_sum(grd(b), dy, rows, out, false);
  if (dx) be->gemm(Trans::No, Trans::No, rows, in, out, T(1), dy, out, prm(w), in, T(0), dx, in);
}

template <class T>
void Net<T>::linear_bwd_rounded(T* dx, const uint16_t* x_b, size_t w, int rows, int out, int in) {
  b_.bf->gemm_bf16(Trans::Yes, Trans::No, out, in, rows, dy_b_, out, x_b, in, 0.0f, f32(grd(w)), in);
  if (dx)
    b_.bf->gemm_bf16(Trans::No, Trans::No, rows, in, out, dy_b_, out, b_.params_b + w, in, 0.0f,
                     f32(dx), in);
}

template <class T>
void Net<T>::layernorm_for_gemm(T* y, uint16_t* y_b, T* mean, T* rstd, const T* x, size_t w,
                                size_t b, int rows, int cols, float eps) {
  if (b_.bf)
    b_.bf->layernorm_fwd_bf16(y_b, f32(mean), f32(rstd), f32(x), f32(prm(w)), f32(prm(b)), rows, cols,
                              eps);
  else
    b_.be->layernorm_fwd(y, mean, rstd, x, prm(w), prm(b), rows, cols, T(eps));
}

template class Net<float>;
template class Net<double>;

}  // namespace grwarm
