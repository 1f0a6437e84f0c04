// The op conformance suite: every Backend<T> op against a host reference (ref_ops.h,
// ref_flat.h) on small inputs of several shapes, each op run twice to check determinism.
// One file per group of ops (cases_*.cpp); conformance_main.cpp runs them.
#pragma once
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "harness.h"
#include "ref_ops.h"

namespace grwarm::test {

// What every case needs: the backend, the report, and facts about the run.
template <class T>
struct Ctx {
  Backend<T>& be;
  Report& report;
  bool is_cpu;  // the CPU backend has bit-exact contracts the others do not (see ref_flat.h)
  double u = unit_roundoff<T>();
  std::string prec = precision_name<T>();

  using Outputs = std::vector<std::vector<double>>;
  using Named = std::vector<std::pair<std::string, const ref::Want*>>;

  // `run` uploads fresh inputs (outputs that are read, e.g. accumulated, included), runs the
  // op and returns its outputs as doubles, in the order of `wants`. It runs twice: each output
  // must come back with the same bits both times (reductions are deterministic by contract)
  // and within its tolerance. One report row per output; `ops` lists the Backend methods the
  // row exercises (default: op). An exception from the backend fails the case with its message.
  template <class F>
  void check(const std::string& op, const std::string& shape, F&& run, const Named& wants,
             std::vector<std::string> ops = {}) {
    Outputs first, second;
    std::string error;
    try {
      first = run();
      second = run();
    } catch (const std::exception& e) {
      error = e.what();
    }
    for (size_t k = 0; k < wants.size(); ++k) {
      CaseResult r;
      r.op = op;
      r.ops = ops;
      r.precision = prec;
      r.shape = shape;
      r.output = wants[k].first;
      const Tolerance tol = wants[k].second->tol(u);
      if (!error.empty() || k >= first.size()) {
        r.pass = false;
        r.tol = tol.tol;
        r.basis = tol.basis;
        r.note = error.empty() ? "the case returned no output for this" : "threw: " + error;
        report.add(r);
        continue;
      }
      r.deterministic = same_bits(first[k], second[k]);
      report.add_compare(r, compare(first[k], wants[k].second->e, tol), tol);
    }
  }

  // A case with no numeric output (e.g. timing marks): pass/fail with a note.
  void verdict(const std::string& op, const std::vector<std::string>& ops, bool pass,
               const std::string& note) {
    CaseResult r;
    r.op = op;
    r.ops = ops;
    r.precision = prec;
    r.pass = pass;
    r.note = note;
    report.add(r);
  }
};

// "a=1 b=2" style shape labels.
std::string shape_str(const std::vector<std::pair<const char*, long long>>& dims);
// A short number for labels ("%g").
std::string num_str(double v);

template <class T> void cases_memory(Ctx<T>& c);     // alloc/upload/download/copy/fill, timing
template <class T> void cases_dense(Ctx<T>& c);      // gemm, broadcast_rows, col_sum
template <class T> void cases_embed(Ctx<T>& c);      // patchify, embed_fwd, embed_bwd
template <class T> void cases_layer(Ctx<T>& c);      // layernorm, gelu, residual, dropout
template <class T> void cases_attention(Ctx<T>& c);  // attention_fwd, attention_bwd
template <class T> void cases_head(Ctx<T>& c);       // gather/scatter_cls, softmax_xent, loss_stats
template <class T> void cases_flat(Ctx<T>& c);       // sum_squares, gr_perturb, gr_combine, optim_update
template <class T> void cases_window(Ctx<T>& c);     // attention_bias, gather_rows, mean_tokens
template <class T> void cases_cait(Ctx<T>& c);      // talking_heads, class_attention, layer_scale
template <class T> void cases_bf16(Ctx<T>& c);       // linear_fwd and the bf16 mixed-precision ops

// Every Backend<T> method the suite must cover (the JSON's "ops" lists are checked against it).
const std::vector<std::string>& backend_op_names();

}  // namespace grwarm::test
