// Module entry: the NativeModel class and process-wide backend settings.
#include <napi.h>

#include "args.h"
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

Napi::Object init(Napi::Env env, Napi::Object exports) {
  cpu::set_num_threads(0);  // all hardware threads, for OpenMP and the BLAS alike
  exports.Set("NativeModel", ModelWrap::define(env));
  exports.Set("backendInfo", Napi::Function::New(env, backend_info));
  exports.Set("setThreads", Napi::Function::New(env, set_threads));
  exports.Set("setGemm", Napi::Function::New(env, set_gemm));
  return exports;
}

}  // namespace

NODE_API_MODULE(grwarm_native, init)

}  // namespace grwarm::binding
