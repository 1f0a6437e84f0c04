// Comparisons and tolerances of grwarm_parity (see parity.h).
#include <cmath>
#include <sstream>

#include "parity.h"

namespace grwarm::test::parity {

// Tolerances when the two sides differ (another backend, or float32 against float64).
// Every op's rounding is bounded by the conformance suite; here the question is whether the
// whole model composes the ops the same way. The float32-vs-float64 comparison on the CPU
// (--reference-precision float64) measures the float32 rounding noise of the whole model:
// at vit-ti batch 8 the worst gradient tensor differs by 1.9e-6 (relative L2), the logits by
// 7e-7, the losses by 3e-8, the gradient norms by 5e-8 (micro: 1.8e-6, 6e-7, 1e-7, 4e-8).
// Two float32 implementations that round differently (cuBLAS, tree reductions) differ by about
// sqrt(2) times that. The float32 limits sit ~50x above the measured noise: loose enough for
// any correct summation order, tight enough that TF32 GEMMs (inputs rounded to 11 bits,
// ~1e-4 .. 1e-3 per tensor) or a wrong mask element fail. Float64 limits: the same factor over
// float64's noise (2^-29 of float32's), with ample room.
// Parameter updates after one fused step use SGD with lr 1 (the update is minus the combined
// gradient), so they carry the gradient tolerance. apply_optimizer runs on identical
// gradients and states: only the element-wise formula's rounding differs, a few ulp of each
// state and of the step: 1e-4 of the update, plus the storage slack of theta (parity.h).
Tolerances tolerances(Precision dut, Precision against, bool identical) {
  if (identical) return {0, 0, 0, 0, 0, 0, 0, 0};
  if (dut == Precision::F64 && against == Precision::F64)
    return {1e-12, 1e-13, 1e-11, 1e-11, 1e-12, 1e-13, 1e-14, 0};
  return {2e-5, 2e-6, 1e-4, 1e-4, 1e-4, 2e-6, 1e-10, 1};
}

std::vector<double> read_flat(Model& m, FlatBuffer which, size_t slot) {
  const size_t n = m.layout().total;
  if (m.precision() == Precision::F64) {
    std::vector<double> h(n);
    m.read_buffer(which, slot, h.data());
    return h;
  }
  std::vector<float> h(n);
  m.read_buffer(which, slot, h.data());
  return std::vector<double>(h.begin(), h.end());
}

void write_flat(Model& m, FlatBuffer which, size_t slot, const std::vector<double>& v) {
  if (m.precision() == Precision::F64) {
    m.write_buffer(which, slot, v.data());
    return;
  }
  const std::vector<float> h(v.begin(), v.end());
  m.write_buffer(which, slot, h.data());
}

// Per tensor t: ||got_t - ref_t|| / max(||ref_t||, floor_t), where the floor is 1% of the
// norm the tensor would have if the buffer's norm were spread evenly over its elements: a
// tensor whose own norm is tiny next to the rest (e.g. a gradient that nearly cancels over the
// batch) is judged by the scale of the whole gradient instead of amplifying rounding noise.
void compare_tensors(Report& rep, CaseResult row, const ParamLayout& layout, const std::vector<double>& ref,
                     const std::vector<double>& got, double tol, const std::vector<double>* base, double u) {
  auto value = [&](const std::vector<double>& v, size_t i) { return base ? v[i] - (*base)[i] : v[i]; };
  double total_sq = 0;
  for (size_t i = 0; i < ref.size(); ++i) total_sq += value(ref, i) * value(ref, i);
  double worst = -1, max_abs = 0;
  std::string worst_name, failing;
  int n_fail = 0;
  for (const TensorView& t : layout.tensors) {
    double err_sq = 0, ref_sq = 0, stored_sq = 0;
    for (size_t i = t.offset; i < t.offset + t.size; ++i) {
      const double r = value(ref, i), g = value(got, i);
      err_sq += (g - r) * (g - r);
      ref_sq += r * r;
      stored_sq += ref[i] * ref[i];
      max_abs = std::max(max_abs, std::isnan(g - r) ? INFINITY : std::fabs(g - r));
    }
    const double floor = 1e-2 * std::sqrt(total_sq * double(t.size) / double(ref.size()));
    // The storage slack, as an equivalent raise of the denominator: err <= tol * denom + 2u |ref|.
    const double slack = tol > 0 && u > 0 ? 2 * u * std::sqrt(stored_sq) / tol : 0.0;
    const double denom = std::max(std::sqrt(ref_sq), floor) + slack;
    const double rel = err_sq == 0 ? 0.0 : denom > 0 ? std::sqrt(err_sq) / denom : INFINITY;
    const bool ok = tol == 0 ? err_sq == 0 : rel <= tol;  // NaN fails
    if (!ok) {
      ++n_fail;
      if (n_fail <= 5) failing += (failing.empty() ? "" : ", ") + t.name;
    }
    if (!(rel <= worst)) {
      worst = rel;
      worst_name = t.name;
    }
  }
  row.max_abs = max_abs;
  row.max_rel = worst;
  row.tol = tol;
  row.worst = tol > 0 ? worst / tol : (worst == 0 ? 0 : INFINITY);
  row.basis = tol == 0 ? "identical bits (same backend and precision)"
              : u > 0 ? "per-tensor ||d got - d ref|| / (max(||d ref||, 1% of its even share) + 2u ||theta'||/tol)"
                      : "per-tensor ||got - ref|| / max(||ref||, 1% of its even share of the total)";
  row.pass = n_fail == 0;
  std::ostringstream note;
  note << "worst " << worst_name;
  if (n_fail) note << "; " << n_fail << " tensor(s) out of tolerance: " << failing << (n_fail > 5 ? ", ..." : "");
  row.note = note.str();
  rep.add(row);
}

void compare_scalar(Report& rep, CaseResult row, double ref, double got, double tol) {
  const double err = std::fabs(got - ref);
  row.max_abs = err;
  row.max_rel = ref != 0 ? err / std::fabs(ref) : err;
  row.tol = tol;
  row.worst = tol > 0 ? row.max_rel / tol : (err == 0 ? 0 : INFINITY);
  row.basis = tol == 0 ? "identical bits (same backend and precision)" : "|got - ref| / |ref|";
  row.pass = got == ref || (tol > 0 && row.max_rel <= tol);
  std::ostringstream note;
  note.precision(10);
  note << "ref " << ref << ", got " << got;
  row.note = note.str();
  rep.add(row);
}

}  // namespace grwarm::test::parity
