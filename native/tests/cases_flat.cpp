// Whole-model passes over flat buffers: sum_squares, gr_perturb, gr_combine, optim_update
// (Adam, RMSProp plain/momentum/centered, SGD; weight decay on and off; clipping through
// g_sq; a non-finite g_sq skips the update).
#include <cmath>
#include <limits>

#include "conformance.h"
#include "ref_flat.h"

namespace grwarm::test {

namespace {

// Sizes around the 16384-element chunk of sum_squares (core/backend.h): below, exactly one,
// one more, several plus a remainder.
const size_t kFlatSizes[] = {1, 13, kSumSquaresChunk, kSumSquaresChunk + 1, 3 * kSumSquaresChunk + 5, 100003};

template <class T>
double host_sum_squares(const std::vector<T>& x) {
  double s = 0;
  for (T v : x) s += double(v) * double(v);
  return s;
}

template <class T>
void sum_squares_cases(Ctx<T>& c) {
  for (size_t n : kFlatSizes) {
    Rng rng(n + 77);
    const std::vector<T> x = rng.vec<T>(n, -2, 2);
    const ref::Want w = ref::sum_squares(x);
    ref::Want exact;  // the CPU's contracted summation order, bit for bit
    exact.e.push(ref::sum_squares_cpu_order(x), 0);
    exact.basis = "exact: chunks of 16384 in index order, chunk sums in index order (CPU contract)";
    typename Ctx<T>::Named wants = {{"out", &w}};
    if (c.is_cpu) wants.push_back({"out (cpu order)", &exact});
    c.check("sum_squares", shape_str({{"n", (long long)n}}),
            [&] {
              Buf<T> xx(c.be, x);
              Buf<T, double> out(c.be, std::vector<double>{std::numeric_limits<double>::quiet_NaN()});
              c.be.sum_squares(out.get(), xx.get(), n);
              const double v = out.download()[0];
              return typename Ctx<T>::Outputs{{v}, {v}};
            },
            wants);
  }
}

template <class T>
void gr_cases(Ctx<T>& c) {
  for (size_t n : {size_t(13), 3 * kSumSquaresChunk + 5, size_t(100003)}) {
    Rng rng(n * 5 + 1);
    const std::vector<T> theta = rng.vec<T>(n, -1, 1), g1 = rng.vec<T>(n, -1e-2, 1e-2);
    const std::vector<T> g2 = rng.vec<T>(n, -1e-2, 1e-2);
    const double g1_sq = host_sum_squares(g1);
    for (double r : {0.1, 0.05}) {
      const ref::Perturb w = ref::gr_perturb(theta, g1, r, g1_sq, c.is_cpu);
      c.check("gr_perturb", shape_str({{"n", (long long)n}}) + " r=" + num_str(r),
              [&] {
                Buf<T> th(c.be, theta), g(c.be, g1), saved(c.be, n);
                Buf<T, double> sq(c.be, std::vector<double>{g1_sq});
                c.be.gr_perturb(th.get(), saved.get(), g.get(), r, sq.get(), n);
                return typename Ctx<T>::Outputs{to_double(th.download()), to_double(saved.download())};
              },
              {{"theta", &w.theta}, {"saved", &w.saved}});
    }
    for (double alpha : {1.0, 0.8, 0.5}) {
      const ref::Want w = ref::gr_combine(g1, g2, alpha, c.is_cpu);
      c.check("gr_combine", shape_str({{"n", (long long)n}}) + " alpha=" + num_str(alpha),
              [&] {
                Buf<T> g(c.be, g2), gg1(c.be, g1);
                c.be.gr_combine(g.get(), gg1.get(), alpha, n);
                return typename Ctx<T>::Outputs{to_double(g.download())};
              },
              {{"g", &w}});
    }
  }
}

// One optimizer variant. g_sq: "norm" = the real squared norm of g; "nan" / "inf" = not finite.
struct OptCase {
  const char* name;
  OptimKind kind;
  double momentum;
  bool centered;
  double weight_decay;
  bool decay;
  double clip_ratio;  // clip = clip_ratio * ||g||: < 1 clips, 0 = clipping off
  int t;              // 1-based step number (Adam bias corrections)
  const char* g_sq;
};
const OptCase kOpt[] = {
    {"adam t=1", OptimKind::Adam, 0, false, 0, false, 0, 1, "norm"},
    {"adam t=7 wd decay clip", OptimKind::Adam, 0, false, 0.3, true, 0.5, 7, "norm"},
    {"adam t=7 wd no-decay", OptimKind::Adam, 0, false, 0.3, false, 0, 7, "norm"},
    {"adam clip inactive", OptimKind::Adam, 0, false, 0.03, true, 2.0, 3, "norm"},
    {"rmsprop wd decay", OptimKind::RMSProp, 0, false, 0.3, true, 0, 1, "norm"},
    {"rmsprop momentum", OptimKind::RMSProp, 0.9, false, 0, false, 0, 1, "norm"},
    {"rmsprop centered", OptimKind::RMSProp, 0, true, 0.3, true, 0, 1, "norm"},
    {"rmsprop centered momentum clip", OptimKind::RMSProp, 0.9, true, 0, false, 0.5, 1, "norm"},
    {"sgd wd decay", OptimKind::SGD, 0, false, 0.3, true, 0, 1, "norm"},
    {"sgd momentum clip", OptimKind::SGD, 0.9, false, 0.3, false, 0.25, 1, "norm"},
    {"adam g_sq=nan (skip)", OptimKind::Adam, 0, false, 0.3, true, 0, 2, "nan"},
    {"sgd g_sq=inf (skip)", OptimKind::SGD, 0.9, false, 0.3, true, 0, 1, "inf"},
    {"rmsprop centered momentum g_sq=nan (skip)", OptimKind::RMSProp, 0.9, true, 0.3, true, 0.5, 1, "nan"},
};

constexpr size_t kPad = 3;  // the update runs on [kPad, kPad + n): decay runs start anywhere

// A Want over the padded buffer: the reference inside, the untouched input outside (exact).
template <class T>
ref::Want padded(const ref::Want& mid, const std::vector<T>& full) {
  ref::Want w = mid;
  w.e.ref = to_double(full);
  w.e.scale.assign(full.size(), 0.0);
  for (size_t i = 0; i < mid.e.ref.size(); ++i) {
    w.e.ref[kPad + i] = mid.e.ref[i];
    w.e.scale[kPad + i] = mid.e.scale[i];
  }
  return w;
}

template <class T>
std::vector<T> middle(const std::vector<T>& full, size_t n) {
  return std::vector<T>(full.begin() + kPad, full.begin() + kPad + n);
}

template <class T>
void optim_case(Ctx<T>& c, const OptCase& k, size_t n) {
  const bool use2 = k.kind == OptimKind::Adam || (k.kind == OptimKind::RMSProp && k.momentum > 0);
  const bool use3 = k.kind == OptimKind::RMSProp && k.centered;
  const size_t N = n + 2 * kPad;
  Rng rng(n * 13 + k.t * 7 + size_t(k.kind) * 3 + (k.centered ? 1 : 0) + size_t(k.momentum * 10));
  const std::vector<T> theta = rng.vec<T>(N, -1, 1), g = rng.vec<T>(N, -1e-2, 1e-2);
  // Mid-training states: signed first moments / buffers, positive second moments with
  // v > mean^2 for centered RMSProp.
  std::vector<T> s1, s2, s3;
  if (k.kind == OptimKind::SGD) {
    s1 = rng.vec<T>(N, -1e-2, 1e-2);
  } else {
    s1 = k.kind == OptimKind::Adam ? rng.vec<T>(N, -1e-2, 1e-2) : rng.vec<T>(N, 1e-4, 2e-4);
    if (use2) s2 = k.kind == OptimKind::Adam ? rng.vec<T>(N, 0, 1e-4) : rng.vec<T>(N, -1e-2, 1e-2);
    if (use3) s3 = rng.vec<T>(N, -5e-3, 5e-3);
  }
  const double norm_sq = host_sum_squares(middle(g, n));
  const double g_sq = std::string(k.g_sq) == "nan"   ? std::numeric_limits<double>::quiet_NaN()
                      : std::string(k.g_sq) == "inf" ? std::numeric_limits<double>::infinity()
                                                     : norm_sq;
  OptimStep o;
  o.kind = k.kind;
  o.lr = 1e-2;
  o.momentum = k.momentum;
  o.centered = k.centered;
  o.weight_decay = k.weight_decay;
  o.clip = k.clip_ratio * std::sqrt(norm_sq);
  o.bc1 = 1 - std::pow(o.beta1, k.t);
  o.bc2 = 1 - std::pow(o.beta2, k.t);
  o.grad_scale = 12345;  // must be ignored: the backend derives it from g_sq and clip

  const ref::OptimWant mid = ref::optim_update(middle(theta, n), middle(g, n), middle(s1, n),
                                               use2 ? middle(s2, n) : std::vector<T>{},
                                               use3 ? middle(s3, n) : std::vector<T>{}, o, k.decay, g_sq, false);
  const ref::Want wt = padded(mid.theta, theta), w1 = padded(mid.s1, s1);
  const ref::Want w2 = use2 ? padded(mid.s2, s2) : ref::Want{}, w3 = use3 ? padded(mid.s3, s3) : ref::Want{};
  typename Ctx<T>::Named wants = {{"theta", &wt}, {"s1", &w1}};
  if (use2) wants.push_back({"s2", &w2});
  if (use3) wants.push_back({"s3", &w3});
  c.check("optim_update", std::string(k.name) + " n=" + std::to_string(n),
          [&] {
            Buf<T> th(c.be, theta), gg(c.be, g), b1(c.be, s1), b2(c.be, use2 ? s2 : std::vector<T>(1)),
                b3(c.be, use3 ? s3 : std::vector<T>(1));
            Buf<T, double> sq(c.be, std::vector<double>{g_sq});
            c.be.optim_update(th.get() + kPad, gg.get() + kPad, b1.get() + kPad, use2 ? b2.get() + kPad : nullptr,
                              use3 ? b3.get() + kPad : nullptr, n, o, k.decay, sq.get());
            typename Ctx<T>::Outputs out{to_double(th.download()), to_double(b1.download())};
            if (use2) out.push_back(to_double(b2.download()));
            if (use3) out.push_back(to_double(b3.download()));
            return out;
          },
          wants);
}

}  // namespace

template <class T>
void cases_flat(Ctx<T>& c) {
  sum_squares_cases(c);
  gr_cases(c);
  for (const OptCase& k : kOpt)
    for (size_t n : {size_t(13), 3 * kSumSquaresChunk + 5}) optim_case(c, k, n);
}

template void cases_flat<float>(Ctx<float>&);
template void cases_flat<double>(Ctx<double>&);

}  // namespace grwarm::test
