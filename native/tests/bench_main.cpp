// grwarm_bench_native: training-step timings of one ViT on one backend, as one JSON object.
//
//   grwarm_bench_native [--backend auto|cpu|cuda] [--model vit-ti|vit-s|vit-b|vit-micro]
//                       [--batch 256] [--iters 20] [--warmup 3] [--gemm-n 4096] [--gemm-iters 10]
//                       [--no-unfused] [--json out.json]
//
// Measures (medians over --iters after --warmup untimed iterations, float32, Adam with the
// paper's wd 0.3 and clipping at 2, dropout 0.1, tanh GELU, 32x32 images, patch 4, 10 classes):
//   base       Model::step with lambda = 0 (one forward/backward + optimizer)
//   gr_fused   Model::step with lambda = r = 0.1 (SAM-like GR: two passes, perturb, combine)
//   gr_unfused the same GR step composed from Model calls with the buffers copied to the host
//              (forward_backward, read grads, norm/perturb on the host, write params,
//              forward_backward, combine on the host, write grads and the restored params,
//              apply_optimizer): what a caller without the fused step pays
//   gemm       Backend::gemm at n^3 (float32, row-major, no transposes) on a fresh backend,
//              timed by the backend's marks (CUDA events on the GPU). TF32 is whatever the
//              backend's GEMM uses; the CUDA backend's contract is plain float32, and
//              scripts/gpu-check.sh also sets NVIDIA_TF32_OVERRIDE=0.
// Step times are host wall-clock per call: Model::step reads its scalars back, so it returns
// only once the step has finished. Phase times come from StepResult (backend marks).
// Progress goes to stderr, the JSON object to stdout (and to --json).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <sstream>

#include "harness.h"

namespace grwarm::test::bench {
namespace {

ModelConfig preset(const std::string& name) {
  ModelConfig c;  // 32x32x3, patch 4, 10 classes, ln eps 1e-6
  c.dropout = 0.1f;
  c.gelu = GeluKind::Tanh;
  auto set = [&](int w, int d, int h) {
    c.width = w;
    c.depth = d;
    c.heads = h;
    c.mlp_hidden = 4 * w;
  };
  if (name == "vit-micro") set(64, 4, 2);
  else if (name == "vit-ti") set(192, 12, 3);
  else if (name == "vit-s") set(384, 12, 6);
  else if (name == "vit-b") set(768, 12, 12);
  else throw UsageError("unknown --model \"" + name + "\" (vit-micro, vit-ti, vit-s, vit-b)");
  return c;
}

// Matrix-product FLOPs of one image's forward + backward pass (multiply-add = 2 FLOPs), the
// formula of bench/util.ts (vitFlops). Forward: patch embedding 2 P K D; per block the four
// linears 2 Tn (3D^2 + D^2 + 2 D M) and attention's two Tn x Tn x D products 2 * 2 Tn^2 D;
// head 2 D C (class token only). Backward: twice the forward (input and weight gradients)
// except the patch embedding, which needs no input gradient (once). Element-wise work
// (layernorm, GELU, softmax, optimizer) is not counted, as usual for MFU-style figures.
struct Flops {
  double forward = 0, backward = 0, attention = 0;
  double total() const { return forward + backward; }
};
Flops vit_flops(const ModelConfig& c) {
  const double P = c.num_patches(), Tn = c.tokens(), K = c.patch_dim(), D = c.width, M = c.mlp_hidden,
               C = c.num_classes, L = c.depth;
  const double patch = 2 * P * K * D, linear = 2 * Tn * (3 * D * D + D * D + 2 * D * M),
               attn = 2 * 2 * Tn * Tn * D, head = 2 * D * C;
  Flops f;
  f.forward = patch + L * (linear + attn) + head;
  f.backward = patch + 2 * L * (linear + attn) + 2 * head;
  f.attention = 3 * L * attn;
  return f;
}

struct StepTimes {
  std::vector<double> wall, first, perturb, second, combine, optim, bookkeeping_share;
};

StepTimes time_steps(Model& m, const std::vector<float>& images, const std::vector<int32_t>& labels, int B,
                     const StepOptions& base, int warmup, int iters) {
  StepTimes t;
  for (int i = 0; i < warmup + iters; ++i) {
    StepOptions o = base;
    o.seed = base.seed + uint64_t(i);
    const double t0 = now_ms();
    const StepResult r = m.step(images.data(), labels.data(), B, o);
    const double ms = now_ms() - t0;
    if (i < warmup) continue;
    t.wall.push_back(ms);
    t.first.push_back(r.ms_first);
    t.perturb.push_back(r.ms_perturb);
    t.second.push_back(r.ms_second);
    t.combine.push_back(r.ms_combine);
    t.optim.push_back(r.ms_optim);
    const double total = r.ms_first + r.ms_perturb + r.ms_second + r.ms_combine + r.ms_optim;
    t.bookkeeping_share.push_back(total > 0 ? (r.ms_perturb + r.ms_combine) / total : 0);
  }
  return t;
}

// The GR step from Model calls and host copies (float32 model), formulas of grwarm/optim.h.
std::vector<double> time_unfused(Model& m, const std::vector<float>& images, const std::vector<int32_t>& labels,
                                 int B, double lambda, double r, int warmup, int iters) {
  const size_t n = m.layout().total;
  std::vector<float> g1(n), theta(n), saved(n), g(n);
  std::vector<double> out;
  for (int i = 0; i < warmup + iters; ++i) {
    const uint64_t seed = 1000 + uint64_t(i);
    const double t0 = now_ms();
    m.forward_backward(images.data(), labels.data(), B, seed, true, 0.0);
    m.read_buffer(FlatBuffer::Grads, 0, g1.data());
    double g1_sq = 0;  // chunked like Backend::sum_squares on the CPU
    for (size_t c0 = 0; c0 < n; c0 += kSumSquaresChunk) {
      double s = 0;
      for (size_t k = c0; k < std::min(n, c0 + kSumSquaresChunk); ++k) s += double(g1[k]) * double(g1[k]);
      g1_sq += s;
    }
    const double scale = gr_scale(r, g1_sq);
    m.read_buffer(FlatBuffer::Params, 0, saved.data());
    for (size_t k = 0; k < n; ++k) theta[k] = gr_perturbed(saved[k], g1[k], scale);
    m.write_buffer(FlatBuffer::Params, 0, theta.data());
    m.forward_backward(images.data(), labels.data(), B, seed, true, 0.0);
    m.read_buffer(FlatBuffer::Grads, 0, g.data());
    const double alpha = lambda / r;
    for (size_t k = 0; k < n; ++k) g[k] = gr_combined(g1[k], g[k], 1.0 - alpha, alpha);
    m.write_buffer(FlatBuffer::Grads, 0, g.data());
    m.write_buffer(FlatBuffer::Params, 0, saved.data());
    m.apply_optimizer(1e-3);
    const double ms = now_ms() - t0;
    if (i >= warmup) out.push_back(ms);
  }
  return out;
}

struct GemmRate {
  double ms = NAN, gflops = NAN;
};
GemmRate time_gemm(BackendProvider& p, int n, int iters) {
  GemmRate g;
  if (n <= 0 || iters <= 0) return g;
  std::unique_ptr<Backend<float>> be = p.make_f32();
  const size_t nn = size_t(n) * n;
  Buf<float> a(*be, nn), b(*be, nn), c(*be, nn);
  be->fill(a.get(), 0.5f, nn);  // values do not change the speed (no denormals)
  be->fill(b.get(), 0.25f, nn);
  auto run = [&] { be->gemm(Trans::No, Trans::No, n, n, n, 1.0f, a.get(), n, b.get(), n, 0.0f, c.get(), n); };
  run();  // warm-up: library initialisation, kernel selection
  be->synchronize();
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    be->mark(0);
    run();
    be->mark(1);
    ms.push_back(be->elapsed_ms(0, 1));
  }
  g.ms = median(ms);
  g.gflops = 2.0 * double(n) * n * n / (g.ms * 1e6);
  return g;
}

std::string phases_json(const StepTimes& t, bool gr) {
  std::ostringstream o;
  o << "{\"first\": " << json_num(median(t.first));
  if (gr) o << ", \"perturb\": " << json_num(median(t.perturb)) << ", \"second\": " << json_num(median(t.second))
            << ", \"combine\": " << json_num(median(t.combine));
  o << ", \"optim\": " << json_num(median(t.optim)) << "}";
  return o.str();
}

int usage(const char* msg) {
  std::fprintf(stderr,
               "grwarm_bench_native: %s\nusage: grwarm_bench_native [--backend auto|cpu|cuda] "
               "[--model vit-ti|vit-s|vit-b|vit-micro] [--batch 256] [--iters 20] [--warmup 3] "
               "[--gemm-n 4096] [--gemm-iters 10] [--precision float32|bfloat16] [--no-unfused] [--json out.json]\n",
               msg);
  return kExitUsage;
}

int run(int argc, char** argv) {
  const Args args(argc, argv, {"backend", "model", "batch", "iters", "warmup", "gemm-n", "gemm-iters", "json", "precision"},
                  {"no-unfused"});
  std::string backend = args.get("backend", "auto");
  const std::string model_name = args.get("model", "vit-ti");
  const ModelConfig cfg = preset(model_name);
  const int B = args.get_int("batch", 256), iters = args.get_int("iters", 20), warmup = args.get_int("warmup", 3);
  const int gemm_n = args.get_int("gemm-n", 4096), gemm_iters = args.get_int("gemm-iters", 10);
  if (B < 1 || iters < 1 || warmup < 0) return usage("--batch and --iters must be >= 1, --warmup >= 0");
  const std::string precision = args.get("precision", "float32");
  if (precision != "float32" && precision != "bfloat16") return usage("--precision: float32 or bfloat16");
  const Precision prec = precision == "bfloat16" ? Precision::BF16 : Precision::F32;

  if (backend == "auto") {
    register_builtin_backends();
    BackendProvider* cuda = find_backend("cuda");
    backend = cuda && cuda->status().available ? "cuda" : "cpu";
  }
  BackendStatus st;
  BackendProvider* provider = open_backend(backend, &st);
  if (!provider) return kExitUnavailable;
  std::fprintf(stderr, "bench: %s on %s (%s), batch %d, %d+%d iterations\n", model_name.c_str(), backend.c_str(),
               st.detail.c_str(), B, warmup, iters);

  const GemmRate gemm = time_gemm(*provider, gemm_n, gemm_iters);
  std::fprintf(stderr, "  gemm %d^3: %.3f ms, %.1f GFLOP/s\n", gemm_n, gemm.ms, gemm.gflops);

  std::unique_ptr<Model> m = create_model(backend, cfg, prec, 1);
  OptimConfig oc;
  oc.kind = OptimKind::Adam;
  oc.weight_decay = 0.3;
  oc.clip = 2.0;
  m->configure_optimizer(oc);
  Rng rng(3);
  std::vector<float> images(size_t(B) * cfg.image_numel());
  for (float& x : images) x = float(rng.uniform(-1, 1));
  std::vector<int32_t> labels(B);
  for (int32_t& l : labels) l = rng.below(cfg.num_classes);

  StepOptions base;
  base.seed = 1;
  base.lr = 1e-3;
  base.r = 0.1;
  const StepTimes tb = time_steps(*m, images, labels, B, base, warmup, iters);
  std::fprintf(stderr, "  base step: %.2f ms\n", median(tb.wall));
  StepOptions gr = base;
  gr.lambda = 0.1;
  const StepTimes tg = time_steps(*m, images, labels, B, gr, warmup, iters);
  std::fprintf(stderr, "  fused GR step: %.2f ms\n", median(tg.wall));
  std::vector<double> tu;
  if (!args.has("no-unfused")) {
    tu = time_unfused(*m, images, labels, B, gr.lambda, gr.r, std::min(warmup, 1), iters);
    std::fprintf(stderr, "  unfused GR step: %.2f ms\n", median(tu));
  }

  const Flops f = vit_flops(cfg);
  const double step_flops = f.total() * B;
  const double base_ms = median(tb.wall), gr_ms = median(tg.wall), unfused_ms = median(tu);
  const double base_gflops = step_flops / (base_ms * 1e6);
  const char* nvtf32 = std::getenv("NVIDIA_TF32_OVERRIDE");

  std::ostringstream o;
  o << "{\"tool\": \"grwarm_bench_native\", \"backend\": " << json_str(backend)
    << ", \"detail\": " << json_str(st.detail) << ", \"model\": " << json_str(model_name)
    << ", \"precision\": " << json_str(precision) << ", \"batch\": " << B << ", \"iters\": " << iters << ", \"warmup\": " << warmup
    << ", \"config\": {\"width\": " << cfg.width << ", \"depth\": " << cfg.depth << ", \"heads\": " << cfg.heads
    << ", \"mlp\": " << cfg.mlp_hidden << ", \"tokens\": " << cfg.tokens() << ", \"classes\": " << cfg.num_classes
    << ", \"dropout\": " << json_num(cfg.dropout) << ", \"gelu\": \"tanh\"}"
    << ", \"params\": " << m->layout().total
    << ", \"flops\": {\"per_image_forward\": " << json_num(f.forward) << ", \"per_image_backward\": "
    << json_num(f.backward) << ", \"per_base_step\": " << json_num(step_flops)
    << ", \"attention_share\": " << json_num(f.attention / f.total())
    << ", \"formula\": \"matmuls only: fwd = 2PKD + L(2Tn(4D^2+2DM) + 4Tn^2 D) + 2DC; bwd = 2x fwd except patch"
       " embedding (1x); times batch\"}"
    << ", \"base\": {\"ms_median\": " << json_num(base_ms) << ", \"ms_min\": "
    << json_num(*std::min_element(tb.wall.begin(), tb.wall.end())) << ", \"gflops\": " << json_num(base_gflops)
    << ", \"phases_ms\": " << phases_json(tb, false) << "}"
    << ", \"gr_fused\": {\"lambda\": 0.1, \"r\": 0.1, \"ms_median\": " << json_num(gr_ms)
    << ", \"ms_min\": " << json_num(*std::min_element(tg.wall.begin(), tg.wall.end()))
    << ", \"phases_ms\": " << phases_json(tg, true)
    << ", \"bookkeeping_share\": " << json_num(median(tg.bookkeeping_share)) << "}"
    << ", \"gr_unfused\": "
    << (tu.empty() ? std::string("null") : "{\"ms_median\": " + json_num(unfused_ms) + "}")
    << ", \"gemm\": {\"n\": " << gemm_n << ", \"ms_median\": " << json_num(gemm.ms)
    << ", \"gflops\": " << json_num(gemm.gflops)
    << ", \"nvidia_tf32_override\": " << (nvtf32 ? json_str(nvtf32) : std::string("null")) << "}"
    << ", \"ratios\": {\"base_gflops_over_gemm\": " << json_num(base_gflops / gemm.gflops)
    << ", \"gr_over_base\": " << json_num(gr_ms / base_ms)
    << ", \"gr_unfused_over_base\": " << json_num(tu.empty() ? NAN : unfused_ms / base_ms)
    << ", \"gr_bookkeeping_share\": " << json_num(median(tg.bookkeeping_share)) << "}}";
  std::printf("%s\n", o.str().c_str());
  const std::string json = args.get("json", "");
  if (!json.empty()) {
    std::FILE* fp = std::fopen(json.c_str(), "w");
    if (!fp) throw std::runtime_error("cannot write " + json);
    std::fprintf(fp, "%s\n", o.str().c_str());
    std::fclose(fp);
  }
  return 0;
}

}  // namespace
}  // namespace grwarm::test::bench

int main(int argc, char** argv) {
  try {
    return grwarm::test::bench::run(argc, argv);
  } catch (const grwarm::test::UsageError& e) {
    return grwarm::test::bench::usage(e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grwarm_bench_native: %s\n", e.what());
    return grwarm::test::kExitFailed;
  }
}
