// grwarm_parity: end-to-end parity of one backend against another (default: CUDA against CPU).
//
//   grwarm_parity [--backend cuda] [--against cpu] [--precision float32|float64|all]
//                 [--configs micro,micro-erf,vit-ti] [--vit-ti-batch 8]
//                 [--reference-precision float64] [--json out.json]
//
// For each config: the same weights (written through write_buffer) and the same batch on both
// sides; then compares
//   evaluate          logits, loss, correct count
//   forward_backward  loss, correct count, every gradient tensor
//   step              one fused step per GR setting (base lambda=0, SAM lambda=r, GR lambda!=r),
//                     with SGD at lr 1 so the update is the combined gradient: losses of both
//                     passes, ||g1||, ||g||, the combined gradient and the parameter update
//   apply_optimizer   one update of each kind (adam, rmsprop, rmsprop centered+momentum, sgd)
//                     on identical gradients and mid-training states: parameters and every slot
// With --backend X --against X (same precision) every number must be identical: a self-check of
// the harness and of the model's determinism. --reference-precision float64 runs the reference
// side in float64 instead: the float32-vs-float64 gap on one backend is the rounding noise the
// float32 tolerances must allow (parity_checks.cpp).
// Prints one row per check, then `parity: N passed, M failed, K skipped`; exit codes as in
// harness.h (3: a backend is unavailable).
#include <cmath>
#include <exception>
#include <memory>

#include "parity.h"

namespace grwarm::test::parity {
namespace {

struct NamedConfig {
  std::string name;
  ModelConfig cfg;
  int batch;
};

ModelConfig vit(int width, int depth, int heads, int mlp, float dropout, GeluKind gelu) {
  ModelConfig c;  // 32x32x3 images, patch 4 (65 tokens), 10 classes, ln eps 1e-6
  c.width = width;
  c.depth = depth;
  c.heads = heads;
  c.mlp_hidden = mlp;
  c.dropout = dropout;
  c.gelu = gelu;
  return c;
}

std::vector<NamedConfig> configs(const std::vector<std::string>& names, int vit_ti_batch) {
  std::vector<NamedConfig> out;
  for (const std::string& n : names) {
    if (n == "micro") out.push_back({n, vit(64, 4, 2, 256, 0.1f, GeluKind::Tanh), 8});
    else if (n == "micro-erf") out.push_back({n, vit(64, 2, 4, 128, 0.0f, GeluKind::Erf), 4});
    else if (n == "vit-ti") out.push_back({n, vit(192, 12, 3, 768, 0.1f, GeluKind::Tanh), vit_ti_batch});
    else throw UsageError("unknown config \"" + n + "\" (known: micro, micro-erf, vit-ti)");
  }
  return out;
}

const char* prec_name(Precision p) { return p == Precision::F64 ? "float64" : "float32"; }

// Values both precisions represent exactly when either side is float32.
std::vector<double> representable(std::vector<double> v, bool any_f32) {
  if (any_f32)
    for (double& x : v) x = double(float(x));
  return v;
}

struct Side {
  std::string device;
  Precision prec;
};

class ParityRun {
 public:
  ParityRun(Report& rep, const NamedConfig& nc, Side dut, Side ref)
      : rep_(rep), nc_(nc), dut_side_(dut), ref_side_(ref) {
    identical_ = dut.device == ref.device && dut.prec == ref.prec;
    any_f32_ = dut.prec == Precision::F32 || ref.prec == Precision::F32;
    tol_ = tolerances(dut.prec, ref.prec, identical_);
  }

  void run() {
    ref_ = create_model(ref_side_.device, nc_.cfg, ref_side_.prec, 1);
    dut_ = create_model(dut_side_.device, nc_.cfg, dut_side_.prec, 1);
    make_inputs();
    check_evaluate();
    check_forward_backward();
    check_gr_step("base", 0.0, 0.1);
    check_gr_step("sam", 0.1, 0.1);
    check_gr_step("gr", 0.08, 0.1);
    check_optimizer("adam", adam());
    check_optimizer("rmsprop", rmsprop(false));
    check_optimizer("rmsprop-centered-momentum", rmsprop(true));
    check_optimizer("sgd", sgd());
  }

 private:
  CaseResult row(const std::string& op, const std::string& output) const {
    CaseResult r;
    r.op = op;
    r.precision = std::string(prec_name(dut_side_.prec)) + (identical_ ? "" : std::string(" vs ") + prec_name(ref_side_.prec));
    r.shape = nc_.name + " B=" + std::to_string(nc_.batch);
    r.output = output;
    return r;
  }

  // The unit roundoff of the compared (device-under-test) precision.
  double u_dut() const { return dut_side_.prec == Precision::F64 ? unit_roundoff<double>() : unit_roundoff<float>(); }

  // Initial weights plus uniform noise of 0.02 (so the zero-initialised head, biases and class
  // token give non-trivial logits and gradients), a batch of uniform images, random labels.
  void make_inputs() {
    Rng rng(42);
    theta0_ = read_flat(*ref_, FlatBuffer::Params);
    for (double& x : theta0_) x += rng.uniform(-0.02, 0.02);
    theta0_ = representable(theta0_, any_f32_);
    images_.resize(size_t(nc_.batch) * nc_.cfg.image_numel());
    for (float& x : images_) x = float(rng.uniform(-1, 1));
    labels_.resize(nc_.batch);
    for (int32_t& l : labels_) l = rng.below(nc_.cfg.num_classes);
  }

  void load_theta0() {
    write_flat(*ref_, FlatBuffer::Params, 0, theta0_);
    write_flat(*dut_, FlatBuffer::Params, 0, theta0_);
  }

  void check_evaluate() {
    load_theta0();
    const size_t n = size_t(nc_.batch) * nc_.cfg.num_classes;
    std::vector<float> la(n), lb(n);
    const PassResult a = ref_->evaluate(la.data(), images_.data(), labels_.data(), nc_.batch, 0.0);
    const PassResult b = dut_->evaluate(lb.data(), images_.data(), labels_.data(), nc_.batch, 0.0);
    double err = 0, norm = 0, max_abs = 0;
    for (size_t i = 0; i < n; ++i) {
      err += (double(lb[i]) - la[i]) * (double(lb[i]) - la[i]);
      norm += double(la[i]) * la[i];
      max_abs = std::max(max_abs, std::fabs(double(lb[i]) - la[i]));
    }
    CaseResult r = row("evaluate", "logits");
    r.max_abs = max_abs;
    r.max_rel = norm > 0 ? std::sqrt(err / norm) : std::sqrt(err);
    r.tol = tol_.logits;
    r.worst = tol_.logits > 0 ? r.max_rel / tol_.logits : (err == 0 ? 0 : INFINITY);
    r.basis = identical_ ? "identical bits" : "||got - ref|| / ||ref|| over all logits";
    r.pass = identical_ ? err == 0 : r.max_rel <= tol_.logits;
    rep_.add(r);
    compare_scalar(rep_, row("evaluate", "loss"), a.loss, b.loss, tol_.loss);
    compare_count(row("evaluate", "correct"), a.correct, b.correct);
  }

  void compare_count(CaseResult r, int a, int b) {
    r.max_abs = std::abs(a - b);
    r.tol = tol_.correct;
    r.basis = "|correct difference| (argmax near-ties may flip)";
    r.pass = std::abs(a - b) <= tol_.correct;
    r.note = "ref " + std::to_string(a) + ", got " + std::to_string(b);
    rep_.add(r);
  }

  void check_forward_backward() {
    load_theta0();
    const PassResult a = ref_->forward_backward(images_.data(), labels_.data(), nc_.batch, 7, true, 0.1);
    const PassResult b = dut_->forward_backward(images_.data(), labels_.data(), nc_.batch, 7, true, 0.1);
    compare_scalar(rep_, row("forward_backward", "loss"), a.loss, b.loss, tol_.loss);
    compare_count(row("forward_backward", "correct"), a.correct, b.correct);
    grads_ = read_flat(*ref_, FlatBuffer::Grads);
    compare_tensors(rep_, row("forward_backward", "grads"), ref_->layout(), grads_,
                    read_flat(*dut_, FlatBuffer::Grads), tol_.grads);
  }

  // One fused step with SGD at lr 1 and no momentum: theta' = theta0 - g, g the combined
  // gradient (g1 for the base step).
  void check_gr_step(const std::string& policy, double lambda, double r) {
    load_theta0();
    OptimConfig oc;
    oc.kind = OptimKind::SGD;
    for (Model* m : {ref_.get(), dut_.get()}) m->configure_optimizer(oc);
    StepOptions so;
    so.seed = 11;
    so.lr = 1.0;
    so.lambda = lambda;
    so.r = r;
    const StepResult a = ref_->step(images_.data(), labels_.data(), nc_.batch, so);
    const StepResult b = dut_->step(images_.data(), labels_.data(), nc_.batch, so);
    const std::string op = "step:" + policy;
    compare_scalar(rep_, row(op, "loss1"), a.first.loss, b.first.loss, tol_.loss);
    CaseResult sp = row(op, "second_pass");
    sp.pass = a.second_pass == b.second_pass && a.second_pass == (lambda > 0);
    sp.note = std::string("ref ") + (a.second_pass ? "yes" : "no") + ", got " + (b.second_pass ? "yes" : "no");
    rep_.add(sp);
    if (a.second_pass) compare_scalar(rep_, row(op, "loss2"), a.second.loss, b.second.loss, tol_.loss);
    compare_scalar(rep_, row(op, "|g1|"), a.g1_norm, b.g1_norm, tol_.norm);
    compare_scalar(rep_, row(op, "|g|"), a.update.g_norm, b.update.g_norm, tol_.norm);
    compare_tensors(rep_, row(op, "grads"), ref_->layout(), read_flat(*ref_, FlatBuffer::Grads),
                    read_flat(*dut_, FlatBuffer::Grads), tol_.grads);
    compare_tensors(rep_, row(op, "update"), ref_->layout(), read_flat(*ref_, FlatBuffer::Params),
                    read_flat(*dut_, FlatBuffer::Params), tol_.update, &theta0_, u_dut());
  }

  static OptimConfig adam() {
    OptimConfig o;  // the paper's setting: AdamW form, wd 0.3, clipping at 2
    o.kind = OptimKind::Adam;
    o.weight_decay = 0.3;
    o.timm_mask = true;  // exercises the decay runs (no decay on biases, norms, cls, pos)
    o.clip = 2.0;
    return o;
  }
  static OptimConfig rmsprop(bool variants) {
    OptimConfig o;
    o.kind = OptimKind::RMSProp;
    o.weight_decay = 0.3;
    if (variants) {
      o.momentum = 0.9;
      o.centered = true;
    }
    return o;
  }
  static OptimConfig sgd() {
    OptimConfig o;
    o.kind = OptimKind::SGD;
    o.momentum = 0.9;
    o.weight_decay = 0.3;
    o.clip = 1e-3;  // below any real gradient norm here: clipping active
    return o;
  }

  // A mid-training state for slot `name`: second moments positive and above the squared
  // mean gradient (centered RMSProp), first moments and momentum buffers signed.
  std::vector<double> slot_state(const std::string& name, Rng& rng) const {
    std::vector<double> v(theta0_.size());
    for (double& x : v) {
      if (name == "exp_avg_sq" || name == "square_avg") x = rng.uniform(1e-7, 1e-6);
      else if (name == "grad_avg") x = rng.uniform(-1e-4, 1e-4);
      else x = rng.uniform(-1e-3, 1e-3);  // exp_avg, momentum_buffer
    }
    return representable(v, any_f32_);
  }

  void check_optimizer(const std::string& kind, const OptimConfig& oc) {
    load_theta0();
    const std::vector<double> g = representable(grads_, any_f32_);
    Rng rng(5);
    std::vector<std::vector<double>> slots;
    for (Model* m : {ref_.get(), dut_.get()}) {
      m->configure_optimizer(oc);
      m->set_optimizer_steps(9);
      write_flat(*m, FlatBuffer::Grads, 0, g);
    }
    const std::vector<std::string> names = ref_->optimizer_slot_names();
    for (size_t i = 0; i < names.size(); ++i) {
      slots.push_back(slot_state(names[i], rng));
      write_flat(*ref_, FlatBuffer::OptimSlot, i, slots.back());
      write_flat(*dut_, FlatBuffer::OptimSlot, i, slots.back());
    }
    const ApplyResult a = ref_->apply_optimizer(1e-3);
    const ApplyResult b = dut_->apply_optimizer(1e-3);
    const std::string op = "apply_optimizer:" + kind;
    compare_scalar(rep_, row(op, "|g|"), a.g_norm, b.g_norm, tol_.norm_same_input);
    compare_scalar(rep_, row(op, "|g| clipped"), a.g_norm_clipped, b.g_norm_clipped, tol_.norm_same_input);
    compare_tensors(rep_, row(op, "update"), ref_->layout(), read_flat(*ref_, FlatBuffer::Params),
                    read_flat(*dut_, FlatBuffer::Params), tol_.optim, &theta0_, u_dut());
    for (size_t i = 0; i < names.size(); ++i)
      compare_tensors(rep_, row(op, names[i]), ref_->layout(), read_flat(*ref_, FlatBuffer::OptimSlot, i),
                      read_flat(*dut_, FlatBuffer::OptimSlot, i), tol_.optim);
  }

  Report& rep_;
  NamedConfig nc_;
  Side dut_side_, ref_side_;
  bool identical_ = false, any_f32_ = true;
  Tolerances tol_{};
  std::unique_ptr<Model> ref_, dut_;
  std::vector<double> theta0_, grads_;
  std::vector<float> images_;
  std::vector<int32_t> labels_;
};

int usage(const char* msg) {
  std::fprintf(stderr,
               "grwarm_parity: %s\nusage: grwarm_parity [--backend cuda] [--against cpu] "
               "[--precision float32|float64|all] [--configs micro,micro-erf,vit-ti] [--vit-ti-batch N] "
               "[--reference-precision float64] [--json out.json]\n",
               msg);
  return kExitUsage;
}

int run(int argc, char** argv) {
  const Args args(argc, argv,
                  {"backend", "against", "precision", "configs", "vit-ti-batch", "reference-precision", "json"}, {});
  const std::string dut = args.get("backend", "cuda"), against = args.get("against", "cpu");
  const std::string prec = args.get("precision", "float32"), ref_prec = args.get("reference-precision", "");
  if (prec != "float32" && prec != "float64" && prec != "all") return usage(("bad --precision " + prec).c_str());
  if (!ref_prec.empty() && (ref_prec != "float64" || prec != "float32"))
    return usage("--reference-precision float64 goes with --precision float32");
  const std::vector<NamedConfig> cfgs =
      configs(split_list(args.get("configs", "micro,micro-erf,vit-ti")), args.get_int("vit-ti-batch", 8));

  BackendStatus sd, sa;
  BackendProvider* pd = open_backend(dut, &sd);
  BackendProvider* pa = open_backend(against, &sa);
  if (!pd || !pa) return kExitUnavailable;
  std::printf("parity: %s (%s) against %s (%s)\n", dut.c_str(), sd.detail.c_str(), against.c_str(),
              sa.detail.c_str());

  Report report("parity");
  report.set_meta("backend", json_str(dut));
  report.set_meta("against", json_str(against));
  report.set_meta("detail", json_str(sd.detail));
  report.set_meta("against_detail", json_str(sa.detail));
  std::vector<Precision> precs;
  if (prec != "float64") precs.push_back(Precision::F32);
  if (prec != "float32") precs.push_back(Precision::F64);
  for (Precision p : precs) {
    const Precision rp = ref_prec == "float64" ? Precision::F64 : p;
    if ((p == Precision::F64 && !sd.float64) || (rp == Precision::F64 && !sa.float64)) {
      report.skip("*", "float64", "float64 is not supported by " + (sd.float64 ? against : dut));
      continue;
    }
    for (const NamedConfig& nc : cfgs) {
      const double t0 = now_ms();
      try {
        ParityRun(report, nc, {dut, p}, {against, rp}).run();
      } catch (const std::exception& e) {
        CaseResult r;
        r.op = "run";
        r.precision = prec_name(p);
        r.shape = nc.name;
        r.note = std::string("threw: ") + e.what();
        report.add(r);
      }
      std::printf("  %s %s: %.1f s\n", nc.name.c_str(), prec_name(p), (now_ms() - t0) / 1000);
    }
  }
  const std::string json = args.get("json", "");
  if (!json.empty() && !report.write_json(json)) std::fprintf(stderr, "cannot write %s\n", json.c_str());
  report.print_summary();
  return report.failed() ? kExitFailed : 0;
}

}  // namespace
}  // namespace grwarm::test::parity

int main(int argc, char** argv) {
  try {
    return grwarm::test::parity::run(argc, argv);
  } catch (const grwarm::test::UsageError& e) {
    return grwarm::test::parity::usage(e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grwarm_parity: %s\n", e.what());
    return grwarm::test::kExitUsage;
  }
}
