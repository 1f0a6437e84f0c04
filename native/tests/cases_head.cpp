// The head: gather_cls, scatter_cls, softmax_xent (with and without dlogits, label smoothing,
// tied maxima) and loss_stats.
#include <limits>

#include "conformance.h"
#include "ref_flat.h"

namespace grwarm::test {

namespace {

template <class T>
void cls_cases(Ctx<T>& c) {
  for (auto [B, Tn, D] : {std::tuple{3, 5, 7}, std::tuple{4, 65, 192}, std::tuple{1, 1, 1}}) {
    const std::string shape = shape_str({{"B", B}, {"Tn", Tn}, {"D", D}});
    Rng rng(B * 100 + Tn + D);
    const std::vector<T> x = rng.vec<T>(size_t(B) * Tn * D, -1, 1);
    const ref::Want wg = ref::gather_cls(to_double(x), B, Tn, D);
    c.check("gather_cls", shape,
            [&] {
              Buf<T> xx(c.be, x), out(c.be, size_t(B) * D);
              c.be.gather_cls(out.get(), xx.get(), B, Tn, D);
              return typename Ctx<T>::Outputs{to_double(out.download())};
            },
            {{"out", &wg}});
    const std::vector<T> dcls = rng.vec<T>(size_t(B) * D, -1, 1);
    const ref::Want ws = ref::scatter_cls(to_double(dcls), B, Tn, D);
    c.check("scatter_cls", shape,
            [&] {
              Buf<T> d(c.be, dcls);
              // NaN everywhere first: the non-class rows must be written with zeros.
              Buf<T> dx(c.be, std::vector<T>(size_t(B) * Tn * D, std::numeric_limits<T>::quiet_NaN()));
              c.be.scatter_cls(dx.get(), d.get(), B, Tn, D);
              return typename Ctx<T>::Outputs{to_double(dx.download())};
            },
            {{"dx", &ws}});
  }
}

template <class T>
void xent_cases(Ctx<T>& c) {
  struct S {
    int B, C;
    double smoothing;
  };
  for (S s : {S{7, 13, 0.0}, S{7, 13, 0.1}, S{5, 10, 0.0}, S{3, 1000, 0.1}, S{4, 2, 0.0}, S{1, 1, 0.0}}) {
    Rng rng(s.B * 1000 + s.C);
    std::vector<T> logits = rng.vec<T>(size_t(s.B) * s.C, -3, 3);
    std::vector<int32_t> labels(s.B);
    for (int32_t& l : labels) l = rng.below(s.C);
    if (s.C >= 10 && s.B >= 2) {
      // Tied maxima: the first index wins (the shared row formula's strict '>'), so row 0 is
      // wrong when labelled with the second, row 1 right when labelled with the first.
      logits[2] = logits[5] = T(3.5);
      labels[0] = 5;
      logits[s.C + 4] = logits[s.C + 9] = T(3.5);
      labels[1] = 4;
    }
    const T smoothing = T(s.smoothing);
    const ref::Xent w = ref::softmax_xent(to_double(logits), labels, s.B, s.C, double(smoothing));
    const std::string shape = shape_str({{"B", s.B}, {"C", s.C}}) + " smoothing=" + num_str(s.smoothing);
    for (bool want_grad : {true, false}) {
      auto run = [&] {
        Buf<T> l(c.be, logits), loss(c.be, s.B), dl(c.be, logits.size());
        Buf<T, int32_t> lab(c.be, labels);
        Buf<T, uint8_t> ok(c.be, std::vector<uint8_t>(s.B, 77));
        c.be.softmax_xent(want_grad ? dl.get() : nullptr, loss.get(), ok.get(), l.get(), lab.get(), s.B, s.C,
                          smoothing);
        typename Ctx<T>::Outputs out{to_double(loss.download()), to_double(ok.download())};
        if (want_grad) out.push_back(to_double(dl.download()));
        return out;
      };
      typename Ctx<T>::Named wants = {{"row_loss", &w.loss}, {"row_correct", &w.correct}};
      if (want_grad) wants.push_back({"dlogits", &w.dlogits});
      c.check("softmax_xent", shape + (want_grad ? "" : " no dlogits"), run, wants);
    }
  }
}

template <class T>
void loss_stats_cases(Ctx<T>& c) {
  for (int B : {1, 7, 300, 1025}) {
    Rng rng(B);
    const std::vector<T> loss = rng.vec<T>(B, 0, 5);
    std::vector<uint8_t> correct(B);
    // Any nonzero flag counts as correct.
    for (uint8_t& x : correct) x = rng.below(3) == 0 ? 0 : uint8_t(1 + rng.below(9));
    const ref::LossStats w = ref::loss_stats(loss, correct);
    c.check("loss_stats", shape_str({{"B", B}}),
            [&] {
              Buf<T> l(c.be, loss);
              Buf<T, uint8_t> ok(c.be, correct);
              Buf<T, double> out(c.be, std::vector<double>(2, std::numeric_limits<double>::quiet_NaN()));
              c.be.loss_stats(out.get(), l.get(), ok.get(), B);
              const std::vector<double> o = out.download();
              return typename Ctx<T>::Outputs{{o[0]}, {o[1]}};
            },
            {{"sum", &w.sum}, {"count", &w.count}});
  }
}

}  // namespace

template <class T>
void cases_head(Ctx<T>& c) {
  cls_cases(c);
  xent_cases(c);
  loss_stats_cases(c);
}

template void cases_head<float>(Ctx<float>&);
template void cases_head<double>(Ctx<double>&);

}  // namespace grwarm::test
