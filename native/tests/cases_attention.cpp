// Multi-head attention: attention_fwd (out and the saved pre-dropout probs) and attention_bwd
// (dqkv), with and without dropout on the probabilities (mask index: the element's index in
// probs [B, H, Tn, Tn]).
#include <limits>

#include "conformance.h"

namespace grwarm::test {

namespace {

struct AttnCase {
  AttnShape s;
  float p;
};
// Odd sizes, the ViT-Ti head (65 tokens, hd 64), an odd head width, a single token.
const AttnCase kAttn[] = {
    {{3, 5, 2, 4}, 0.0f},  {{3, 5, 2, 4}, 0.1f},   {{2, 17, 3, 8}, 0.1f}, {{2, 65, 3, 64}, 0.0f},
    {{2, 65, 3, 64}, 0.1f}, {{1, 65, 2, 13}, 0.5f}, {{1, 1, 1, 3}, 0.0f},
};

template <class T>
void attention_case(Ctx<T>& c, const AttnCase& a) {
  const AttnShape& s = a.s;
  const DropoutSpec drop = make_dropout(0xa77e + s.Tn, 1, a.p);
  const std::string shape = shape_str({{"B", s.B}, {"Tn", s.Tn}, {"H", s.H}, {"hd", s.hd}}) + " p=" + num_str(a.p);
  const size_t n_qkv = size_t(s.B) * s.Tn * 3 * s.H * s.hd, n_out = size_t(s.B) * s.Tn * s.H * s.hd;
  const size_t n_probs = size_t(s.B) * s.H * s.Tn * s.Tn;
  Rng rng(uint64_t(s.B) * 7919 + s.Tn * 31 + s.hd);
  // +-2: scores with a spread of about 1, so the softmax is neither flat nor one-hot.
  const std::vector<T> qkv = rng.vec<T>(n_qkv, -2, 2);
  const ref::AttnFwd wf = ref::attention_fwd(to_double(qkv), s, drop);
  c.check("attention_fwd", shape,
          [&] {
            Buf<T> q(c.be, qkv), out(c.be, n_out), probs(c.be, n_probs);
            c.be.attention_fwd(out.get(), probs.get(), q.get(), s, drop);
            return typename Ctx<T>::Outputs{to_double(out.download()), to_double(probs.download())};
          },
          {{"out", &wf.out}, {"probs", &wf.probs}});

  // The backward pass receives the saved probabilities: the exact ones rounded to T.
  std::vector<T> probs(n_probs);
  for (size_t i = 0; i < n_probs; ++i) probs[i] = T(wf.probs.e.ref[i]);
  const std::vector<T> dout = rng.vec<T>(n_out, -1, 1);
  const ref::Want wb = ref::attention_bwd(to_double(dout), to_double(qkv), to_double(probs), s, drop);
  c.check("attention_bwd", shape,
          [&] {
            Buf<T> q(c.be, qkv), g(c.be, dout), p(c.be, probs);
            Buf<T> dq(c.be, std::vector<T>(n_qkv, std::numeric_limits<T>::quiet_NaN()));
            c.be.attention_bwd(dq.get(), g.get(), q.get(), p.get(), s, drop);
            return typename Ctx<T>::Outputs{to_double(dq.download())};
          },
          {{"dqkv", &wb}});
}

}  // namespace

template <class T>
void cases_attention(Ctx<T>& c) {
  for (const AttnCase& a : kAttn) attention_case(c, a);
}

template void cases_attention<float>(Ctx<float>&);
template void cases_attention<double>(Ctx<double>&);

}  // namespace grwarm::test
