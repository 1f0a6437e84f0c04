// Module entry: the NativeModel class and process-wide backend settings.
#include <napi.h>

#include <chrono>
#include <mutex>
#include <vector>

#include "args.h"
#include "core/family.h"
#include "core/registry.h"
#include "cpu/gemm.h"
#include "cpu/blas.h"
#include "cpu/onednn.h"
#include "cpu/parallel.h"
#include "distributed.h"
#include "model_wrap.h"
#include "native_call.h"

namespace grwarm::binding {

namespace {

// backendInfo() -> { backend, backends: [{ name, available, reason, detail, origin, float64 }],
//   gemm, blas, blasAvailable, threads, hardwareThreads, simd, families, cuda, cudaReason }
// `backend` is the device "auto" picks; each entry says why a backend is unavailable.
Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const std::vector<BackendStatus> all = backend_statuses();
  Napi::Array list = Napi::Array::New(env, all.size());
  // What "auto" picks: the first available accelerator, else the first available backend.
  std::string chosen, fallback;
  bool accel = false;
  std::string accel_reason = "no accelerator backend is registered";
  for (size_t i = 0; i < all.size(); ++i) {
    const BackendStatus& st = all[i];
    Napi::Object b = Napi::Object::New(env);
    b.Set("name", st.name);
    b.Set("available", st.available);
    b.Set("reason", st.reason);
    b.Set("detail", st.detail);
    b.Set("origin", st.origin);
    b.Set("float64", st.float64);
    b.Set("bf16", st.bf16);
    b.Set("accelerator", st.accelerator);
    list.Set(uint32_t(i), b);
    if (st.available && fallback.empty()) fallback = st.name;
    if (st.accelerator && st.available && chosen.empty()) chosen = st.name;
    if (st.accelerator && !accel) {
      accel = st.available;
      accel_reason = st.available ? "" : st.reason;
    }
  }
  o.Set("backend", chosen.empty() ? fallback : chosen);
  o.Set("backends", list);
  o.Set("gemm", cpu::gemm_word());
  o.Set("blas", cpu::blas_name());
  o.Set("blasAvailable", cpu::blas_available());
  o.Set("openblas", cpu::blas_load_report());
  o.Set("onednn", cpu::onednn_load_report());
  o.Set("onednnAvailable", cpu::onednn_loaded());
  o.Set("bf16Gemm", cpu::bf16_gemm_name());
  o.Set("bf16Native", cpu::bf16_native());
  o.Set("threads", cpu::num_threads());
  o.Set("hardwareThreads", cpu::hardware_threads());
  o.Set("simd", cpu::simd_level());
  // "cuda"/"cudaReason" keep their names for the JS API; they describe the first registered
  // accelerator backend (the CUDA plugin is the one there is).
  const std::vector<std::string> fams = family_names();
  Napi::Array families = Napi::Array::New(env, fams.size());
  for (size_t i = 0; i < fams.size(); ++i) families.Set(uint32_t(i), fams[i]);
  o.Set("families", families);
  o.Set("cuda", accel);
  o.Set("cudaReason", accel_reason);
  return o;
}

// threadCensus() -> how many distinct CPU threads ran kernel work since the last call.
Napi::Value thread_census(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), cpu::take_thread_census());
}

Napi::Value set_threads(const Napi::CallbackInfo& info) {
  const int n = int_arg(info[0], "threads", 0, 1024);
  try {
    cpu::set_num_threads(n);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("threads: ") + e.what());
  }
  return Napi::Number::New(info.Env(), cpu::num_threads());
}

// setGemm('onednn' | 'openblas' | 'builtin'): the float32 GEMM of every model ('blas' is an
// old name of 'openblas').
Napi::Value set_gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string s = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  cpu::GemmImpl impl;
  if (s == "blas" || s == "openblas")
    impl = cpu::GemmImpl::Blas;
  else if (s == "onednn")
    impl = cpu::GemmImpl::OneDnn;
  else if (s == "builtin")
    impl = cpu::GemmImpl::Builtin;
  else
    range_error(env, "gemm: expected \"onednn\", \"openblas\" or \"builtin\", got " + describe(info[0]));
  try {
    cpu::set_gemm_impl(impl);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return env.Undefined();
}

// gemmClockMs() -> milliseconds spent inside GEMM calls (oneDNN, OpenBLAS, built-in kernel)
// since the addon loaded, over all models: benchmarks take the difference around a step.
Napi::Value gemm_clock_ms(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(cpu::gemm_library_ns()) / 1e6);
}

// setGemmEpilogues(on) -> the previous setting: residual adds fused into oneDNN's matmul or
// run as their own pass (cpu::set_gemm_epilogues; for the tests and benchmarks).
Napi::Value set_gemm_epilogues(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) range_error(info.Env(), "setGemmEpilogues: expected a boolean, got " + describe(info[0]));
  return Napi::Boolean::New(info.Env(), cpu::set_gemm_epilogues(info[0].As<Napi::Boolean>().Value()));
}

// gemmEpilogueCalls() -> GEMMs run with a fused residual epilogue since the addon loaded.
Napi::Value gemm_epilogue_calls(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(cpu::gemm_epilogue_calls()));
}

// sgemmBench(n, iters) -> GFLOP/s of an n x n x n float32 GEMM through the GEMM the models
// use (BLAS or built-in), for benchmarks that compare a model's rate with the bare GEMM's.
Napi::Value sgemm_bench(const Napi::CallbackInfo& info) {
  const int n = int_arg(info[0], "n", 1, 8192);
  const int iters = int_arg(info[1], "iters", 1, 1000);
  std::vector<float> a(size_t(n) * n, 0.5f), b(size_t(n) * n, 0.25f), c(size_t(n) * n);
  cpu::gemm<float>(Trans::No, Trans::No, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i)
    cpu::gemm<float>(Trans::No, Trans::No, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Napi::Number::New(info.Env(), 2.0 * n * n * double(n) * iters / s / 1e9);
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  // Per-environment state, freed by Node with the environment; the cleanup hook runs first
  // and tells async calls still completing that JS is out of reach (worker.terminate()).
  auto* state = new AddonEnv();
  napi_set_instance_data(
      env, state, [](napi_env, void* data, void*) { delete static_cast<AddonEnv*>(data); }, nullptr);
  napi_add_env_cleanup_hook(
      env, [](void* data) { static_cast<AddonEnv*>(data)->closing = true; }, state);
  // The first environment (main or worker thread) sets the process-wide default: all
  // hardware threads, for OpenMP and the BLAS alike.
  static std::once_flag threads_once;
  std::call_once(threads_once, [] {
    try {
      cpu::set_num_threads(0);
    } catch (const std::exception&) {
      cpu::set_num_threads(1);  // the hardware threads cannot start here; setThreads says why
    }
  });
  exports.Set("NativeModel", ModelWrap::define(env));
  exports.Set("NativeCommunicator", CommWrap::define(env));
  exports.Set("backendInfo", Napi::Function::New(env, backend_info));
  exports.Set("paramCount", Napi::Function::New(env, param_count));
  exports.Set("setThreads", Napi::Function::New(env, set_threads));
  exports.Set("setGemm", Napi::Function::New(env, set_gemm));
  exports.Set("gemmClockMs", Napi::Function::New(env, gemm_clock_ms));
  exports.Set("setGemmEpilogues", Napi::Function::New(env, set_gemm_epilogues));
  exports.Set("gemmEpilogueCalls", Napi::Function::New(env, gemm_epilogue_calls));
  exports.Set("threadCensus", Napi::Function::New(env, thread_census));
  exports.Set("sgemmBench", Napi::Function::New(env, sgemm_bench));
  return exports;
}

}  // namespace

NODE_API_MODULE(grwarm_native, init)

}  // namespace grwarm::binding
