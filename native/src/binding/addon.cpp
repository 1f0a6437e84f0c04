// Module entry: the NativeModel class and process-wide backend settings.
#include <napi.h>

#include <chrono>
#include <vector>

#include "args.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "model_wrap.h"

namespace grwarm::binding {

namespace {

// backendInfo() -> { backend, gemm, blas, blasAvailable, threads, hardwareThreads, simd, cuda, cudaReason }
Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("backend", "cpu");
  o.Set("gemm", cpu::gemm_impl() == cpu::GemmImpl::Blas ? "blas" : "builtin");
  o.Set("blas", cpu::blas_name());
  o.Set("blasAvailable", cpu::blas_available());
  o.Set("threads", cpu::num_threads());
  o.Set("hardwareThreads", cpu::hardware_threads());
  o.Set("simd", cpu::simd_level());
  o.Set("cuda", false);
  o.Set("cudaReason", "this build has no CUDA backend (the CPU backend is the only one so far)");
  return o;
}

Napi::Value set_threads(const Napi::CallbackInfo& info) {
  cpu::set_num_threads(int_arg(info[0], "threads", 0, 4096));
  return Napi::Number::New(info.Env(), cpu::num_threads());
}

Napi::Value set_gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string s = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (s == "blas")
    try {
      cpu::set_gemm_impl(cpu::GemmImpl::Blas);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  else if (s == "builtin")
    cpu::set_gemm_impl(cpu::GemmImpl::Builtin);
  else
    range_error(env, "gemm: expected \"blas\" or \"builtin\", got " + describe(info[0]));
  return env.Undefined();
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
  cpu::set_num_threads(0);  // all hardware threads, for OpenMP and the BLAS alike
  exports.Set("NativeModel", ModelWrap::define(env));
  exports.Set("backendInfo", Napi::Function::New(env, backend_info));
  exports.Set("setThreads", Napi::Function::New(env, set_threads));
  exports.Set("setGemm", Napi::Function::New(env, set_gemm));
  exports.Set("sgemmBench", Napi::Function::New(env, sgemm_bench));
  return exports;
}

}  // namespace

NODE_API_MODULE(grwarm_native, init)

}  // namespace grwarm::binding
