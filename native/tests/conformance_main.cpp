// grwarm_conformance: checks every op of a backend against host references.
//
//   grwarm_conformance [--backend cpu|cuda] [--precision float32|float64|all]
//                      [--groups memory,dense,embed,layer,attention,head,flat] [--json out.json]
//   grwarm_conformance --backend cuda --probe     # exit 0 when usable here, else 3 + reason
//
// Prints one row per checked output, then `conformance: N passed, M failed, K skipped`.
// Exit codes: 0 all passed, 1 a failure, 2 usage, 3 backend unavailable (see harness.h).
#include <algorithm>
#include <exception>
#include <functional>
#include <memory>
#include <set>

#include "conformance.h"

namespace grwarm::test {

const std::vector<std::string>& backend_op_names() {
  static const std::vector<std::string> names = {
      "synchronize", "mark",          "elapsed_ms",    "memory_limit_bytes", "alloc_bytes",  "free_bytes",   "upload",
      "download",    "copy",          "fill",          "gemm",         "broadcast_rows", "col_sum",
      "patchify",    "embed_fwd",     "embed_bwd",     "layernorm_fwd", "layernorm_bwd", "gelu_fwd",
      "gelu_bwd",    "residual_fwd",  "dropout_bwd",   "attention_fwd", "attention_bwd", "gather_cls",
      "scatter_cls", "softmax_xent",  "loss_stats",    "sum_squares",  "gr_perturb",   "gr_combine",
      "optim_update", "linear_fwd", "linear_fwd_bf16", "bf16", "round_bf16",
      "gemm_bf16",   "layernorm_fwd_bf16", "gelu_fwd_bf16", "col_sum_round_bf16", "gelu_bwd_bf16",
      "gather_rows", "mean_tokens_fwd", "mean_tokens_bwd", "attention_bias_fwd", "attention_bias_bwd", "drop_path_fwd", "drop_path_bwd",
      "linear_residual_fwd", "linear_residual_fwd_bf16",
      "talking_heads_fwd", "talking_heads_bwd", "class_attention_fwd", "class_attention_bwd",
      "layer_scale_fwd", "layer_scale_bwd"};
  return names;
}

namespace {

template <class T>
using Group = std::pair<const char*, void (*)(Ctx<T>&)>;

template <class T>
std::vector<Group<T>> groups() {
  return {{"memory", &cases_memory<T>},       {"dense", &cases_dense<T>}, {"embed", &cases_embed<T>},
          {"layer", &cases_layer<T>},         {"attention", &cases_attention<T>},
          {"head", &cases_head<T>},           {"flat", &cases_flat<T>},
          {"window", &cases_window<T>},       {"cait", &cases_cait<T>},
          {"bf16", &cases_bf16<T>}};
}

template <class T>
void run_precision(std::unique_ptr<Backend<T>> be, bool is_cpu, const std::vector<std::string>& only,
                   Report& report) {
  Ctx<T> c{*be, report, is_cpu};
  for (const Group<T>& g : groups<T>()) {
    if (!only.empty() && std::find(only.begin(), only.end(), g.first) == only.end()) continue;
    try {
      g.second(c);
    } catch (const std::exception& e) {
      c.verdict(std::string("group:") + g.first, {}, false, std::string("threw: ") + e.what());
    }
  }
}

int usage(const char* msg) {
  std::fprintf(stderr,
               "grwarm_conformance: %s\nusage: grwarm_conformance [--backend cpu|cuda] "
               "[--precision float32|float64|all] [--groups a,b] [--json out.json] [--probe]\n",
               msg);
  return kExitUsage;
}

int run(int argc, char** argv) {
  const Args args(argc, argv, {"backend", "precision", "json", "groups"}, {"probe"});
  const std::string name = args.get("backend", "cpu"), prec = args.get("precision", "float32");
  if (prec != "float32" && prec != "float64" && prec != "all") return usage(("bad --precision " + prec).c_str());
  const std::vector<std::string> only = split_list(args.get("groups", ""));

  BackendStatus st;
  BackendProvider* provider = open_backend(name, &st);
  if (!provider) return kExitUnavailable;
  std::printf("backend %s: %s (%s)%s\n", name.c_str(), st.detail.c_str(), st.origin.c_str(),
              st.float64 ? ", float64 supported" : ", no float64");
  if (args.has("probe")) return 0;

  Report report("conformance");
  report.set_meta("backend", json_str(name));
  report.set_meta("detail", json_str(st.detail));
  report.set_meta("origin", json_str(st.origin));
  const bool is_cpu = name == "cpu";
  std::vector<std::string> ran;
  if (prec != "float64") {
    run_precision<float>(provider->make_f32(), is_cpu, only, report);
    ran.push_back("float32");
  }
  if (prec != "float32") {
    if (st.float64) {
      run_precision<double>(provider->make_f64(), is_cpu, only, report);
      ran.push_back("float64");
    } else {
      report.skip("*", "float64", "the " + name + " backend has no float64 support");
    }
  }

  // Coverage: every Backend method must have been exercised by some row (whole runs only).
  std::set<std::string> covered;
  for (const CaseResult& r : report.rows())
    if (!r.skipped) covered.insert(r.ops.begin(), r.ops.end());
  std::string missing;
  for (const std::string& op : backend_op_names())
    if (!covered.count(op)) missing += (missing.empty() ? "" : ",") + op;
  if (only.empty() && !ran.empty()) {
    CaseResult r;
    r.op = "coverage";
    r.ops = {"coverage"};
    r.precision = ran.front();
    r.pass = missing.empty();
    r.note = missing.empty() ? "every Backend op exercised" : "not exercised: " + missing;
    report.add(r);
  }
  std::string prec_list = "[", covered_list = "[";
  for (const std::string& p : ran) prec_list += (prec_list.size() > 1 ? ", " : "") + json_str(p);
  for (const std::string& op : covered) covered_list += (covered_list.size() > 1 ? ", " : "") + json_str(op);
  report.set_meta("precisions", prec_list + "]");
  report.set_meta("covered_ops", covered_list + "]");

  const std::string json = args.get("json", "");
  if (!json.empty() && !report.write_json(json)) std::fprintf(stderr, "cannot write %s\n", json.c_str());
  report.print_summary();
  return report.failed() ? kExitFailed : 0;
}

}  // namespace
}  // namespace grwarm::test

int main(int argc, char** argv) {
  try {
    return grwarm::test::run(argc, argv);
  } catch (const grwarm::test::UsageError& e) {
    return grwarm::test::usage(e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grwarm_conformance: %s\n", e.what());
    return grwarm::test::kExitUsage;
  }
}
