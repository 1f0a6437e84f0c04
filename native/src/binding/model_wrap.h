// The JS class `NativeModel`: owns one Model, exposes its flat buffers without copying and
// runs forward/backward off the event loop.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <vector>
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
  Napi::Value configure_optimizer(const Napi::CallbackInfo& info);
  Napi::Value optimizer_slots(const Napi::CallbackInfo& info);
  Napi::Value optimizer_steps(const Napi::CallbackInfo& info);
  Napi::Value set_optimizer_steps(const Napi::CallbackInfo& info);
  Napi::Value step(const Napi::CallbackInfo& info);
  Napi::Value apply_optimizer(const Napi::CallbackInfo& info);

  // Throws unless no async call is in flight; async calls hold the model until settled.
  void ensure_idle(Napi::Env env, const char* what);
  Napi::ArrayBuffer external(Napi::Env env, void* data);
  // Marks the model busy and runs `work` off the event loop; settles with `done`'s value.
  Napi::Value run_async(Napi::Env env, std::function<void()> work,
                        std::function<Napi::Value(Napi::Env)> done, std::vector<Napi::Object> keep);
  struct Batch;
  Batch batch_args(const Napi::CallbackInfo& info, bool labels_required);

  std::shared_ptr<Model> model_;
  std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);
  Napi::Reference<Napi::ArrayBuffer> params_ref_, grads_ref_;
  std::vector<Napi::Reference<Napi::ArrayBuffer>> slot_refs_;
};

}  // namespace grwarm::binding
