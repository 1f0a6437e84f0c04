// grwarm_parity: the same model, weights and batch on two backends (or two precisions), compared
// through the Model interface only (read_buffer / write_buffer, evaluate, forward_backward,
// step, apply_optimizer). parity_checks.cpp holds the comparisons, parity_main.cpp the flow.
#pragma once
#include <string>
#include <vector>

#include "core/model.h"
#include "harness.h"

namespace grwarm::test::parity {

// Allowed relative errors, chosen per precision (see tolerances() for the reasoning).
struct Tolerances {
  double logits;   // relative L2 error of all logits
  double loss;     // relative error of a mean loss
  double grads;    // per-tensor relative L2 error of a gradient (forward_backward or GR step)
  double update;   // per-tensor relative L2 error of a parameter change after one step
  double optim;    // per-tensor relative L2 error of theta' - theta / slots after apply_optimizer
  double norm;     // relative error of ||g|| of a pass (follows the gradients)
  double norm_same_input;  // relative error of ||g|| of identical gradients (summation order only)
  int correct;     // |difference| of correct counts allowed (near-ties may flip argmax)
};
// `identical`: both sides are the same backend and precision: every check must be exact.
Tolerances tolerances(Precision dut, Precision against, bool identical);

// Flat buffer <-> host doubles, whatever the model's precision.
std::vector<double> read_flat(Model& m, FlatBuffer which, size_t slot = 0);
void write_flat(Model& m, FlatBuffer which, size_t slot, const std::vector<double>& v);

// Compares two flat buffers tensor by tensor (relative L2 error per tensor, see
// parity_checks.cpp for the denominator) and adds one row naming the worst tensor.
// With `base` it compares got - base against ref - base: a parameter update rather than the
// parameters. The updated parameters are stored in the model's precision, so two correct
// results may differ by an ulp of theta, which for a small update of a large parameter
// (a LayerNorm weight near 1, lr 1e-3) is 1e-4 of the update or more: `u` (the unit roundoff of
// the compared precision) then adds 2u ||ref_t|| of slack to each tensor's allowance.
void compare_tensors(Report& rep, CaseResult row, const ParamLayout& layout, const std::vector<double>& ref,
                     const std::vector<double>& got, double tol, const std::vector<double>* base = nullptr,
                     double u = 0);

// Compares two scalars: |got - ref| <= tol |ref| (exact when tol is 0).
void compare_scalar(Report& rep, CaseResult row, double ref, double got, double tol);

}  // namespace grwarm::test::parity
