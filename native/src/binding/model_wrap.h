// The JS class `NativeModel`: owns one Model, exposes its flat buffers without copying and
// runs forward/backward off the event loop.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "core/model.h"

namespace grwarm::binding {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit ModelWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value layout(const Napi::CallbackInfo& info);
  Napi::Value params(const Napi::CallbackInfo& info);
  Napi::Value grads(const Napi::CallbackInfo& info);
  Napi::Value init(const Napi::CallbackInfo& info);
  Napi::Value param_norm(const Napi::CallbackInfo& info);
  Napi::Value grad_norm(const Napi::CallbackInfo& info);
  Napi::Value forward_backward(const Napi::CallbackInfo& info);
  Napi::Value evaluate(const Napi::CallbackInfo& info);

  // Throws unless no async call is in flight; async calls hold the model until settled.
  void ensure_idle(Napi::Env env, const char* what);
  Napi::ArrayBuffer external(Napi::Env env, void* data);
  struct Batch;
  Batch batch_args(const Napi::CallbackInfo& info, bool labels_required);

  std::shared_ptr<Model> model_;
  std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);
  Napi::Reference<Napi::ArrayBuffer> params_ref_, grads_ref_;
};

}  // namespace grwarm::binding
