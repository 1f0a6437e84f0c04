// Embedding: patchify, embed_fwd, embed_bwd (with and without dropout).
#include <limits>

#include "conformance.h"

namespace grwarm::test {

namespace {

template <class T>
void patchify_cases(Ctx<T>& c) {
  struct S {
    int B, C, S, p;
  };
  for (S s : {S{2, 3, 8, 4}, S{3, 1, 6, 3}, S{2, 3, 32, 4}}) {
    Rng rng(s.B * 101 + s.S);
    const std::vector<float> img = rng.vec<float>(size_t(s.B) * s.C * s.S * s.S, -1, 1);
    const ref::Want w = ref::patchify(img, s.B, s.C, s.S, s.p);
    c.check("patchify", shape_str({{"B", s.B}, {"C", s.C}, {"S", s.S}, {"p", s.p}}),
            [&] {
              Buf<T, float> im(c.be, img);
              Buf<T> x(c.be, w.e.ref.size());
              c.be.patchify(x.get(), im.get(), s.B, s.C, s.S, s.p);
              return typename Ctx<T>::Outputs{to_double(x.download())};
            },
            {{"X", &w}});
  }
}

struct EmbedShape {
  int B, P, D;
  float p;  // dropout
};
const EmbedShape kEmbed[] = {{3, 4, 5, 0.0f}, {3, 4, 5, 0.1f}, {2, 64, 192, 0.1f}, {1, 9, 13, 0.5f}};

template <class T>
void embed_cases(Ctx<T>& c) {
  for (const EmbedShape& s : kEmbed) {
    const int Tn = s.P + 1;
    const DropoutSpec drop = make_dropout(0x1234 + s.D, 0, s.p);
    const std::string shape = shape_str({{"B", s.B}, {"P", s.P}, {"D", s.D}}) + " p=" + num_str(s.p);
    Rng rng(s.B * 7 + s.P * 11 + s.D);
    const std::vector<T> patches = rng.vec<T>(size_t(s.B) * s.P * s.D, -1, 1);
    const std::vector<T> cls = rng.vec<T>(s.D, -1, 1), pos = rng.vec<T>(size_t(Tn) * s.D, -1, 1);
    const ref::Want wf = ref::embed_fwd(to_double(patches), to_double(cls), to_double(pos), s.B, s.P, s.D, drop);
    c.check("embed_fwd", shape,
            [&] {
              Buf<T> pa(c.be, patches), cl(c.be, cls), po(c.be, pos), x(c.be, wf.e.ref.size());
              c.be.embed_fwd(x.get(), pa.get(), cl.get(), po.get(), s.B, s.P, s.D, drop);
              return typename Ctx<T>::Outputs{to_double(x.download())};
            },
            {{"x", &wf}});

    const std::vector<T> dx = rng.vec<T>(size_t(s.B) * Tn * s.D, -1, 1);
    const ref::EmbedBwd wb = ref::embed_bwd(to_double(dx), s.B, s.P, s.D, drop);
    const T nan = std::numeric_limits<T>::quiet_NaN();  // outputs are written, never read
    c.check("embed_bwd", shape,
            [&] {
              Buf<T> g(c.be, dx);
              Buf<T> dp(c.be, std::vector<T>(size_t(s.B) * s.P * s.D, nan));
              Buf<T> dc(c.be, std::vector<T>(s.D, nan)), dpo(c.be, std::vector<T>(size_t(Tn) * s.D, nan));
              c.be.embed_bwd(dp.get(), dc.get(), dpo.get(), g.get(), s.B, s.P, s.D, drop);
              return typename Ctx<T>::Outputs{to_double(dp.download()), to_double(dc.download()),
                                              to_double(dpo.download())};
            },
            {{"dpatches", &wb.dpatches}, {"dcls", &wb.dcls}, {"dpos", &wb.dpos}});
  }
}

}  // namespace

template <class T>
void cases_embed(Ctx<T>& c) {
  patchify_cases(c);
  embed_cases(c);
}

template void cases_embed<float>(Ctx<float>&);
template void cases_embed<double>(Ctx<double>&);

}  // namespace grwarm::test
