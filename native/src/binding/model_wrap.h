// The JS class `NativeModel`: owns one Model on one backend, copies flat buffers in and out
// (JS never holds a view into backend memory) and runs the heavy calls off the event loop.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "core/model.h"

namespace grwarm::binding {

// paramCount(config): the parameter count of a model config, without allocating the model.
Napi::Value param_count(const Napi::CallbackInfo& info);

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit ModelWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value layout(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value read_buffer(const Napi::CallbackInfo& info);
  Napi::Value write_buffer(const Napi::CallbackInfo& info);
  Napi::Value generation(const Napi::CallbackInfo& info);
  Napi::Value busy(const Napi::CallbackInfo& info);
  Napi::Value activation_bytes(const Napi::CallbackInfo& info);
  Napi::Value init(const Napi::CallbackInfo& info);
  Napi::Value param_norm(const Napi::CallbackInfo& info);
  Napi::Value grad_norm(const Napi::CallbackInfo& info);
  Napi::Value forward_backward(const Napi::CallbackInfo& info);
  Napi::Value evaluate(const Napi::CallbackInfo& info);
  Napi::Value configure_optimizer(const Napi::CallbackInfo& info);
  Napi::Value optimizer_slot_names(const Napi::CallbackInfo& info);
  Napi::Value optimizer_steps(const Napi::CallbackInfo& info);
  Napi::Value set_optimizer_steps(const Napi::CallbackInfo& info);
  Napi::Value step(const Napi::CallbackInfo& info);
  Napi::Value apply_optimizer(const Napi::CallbackInfo& info);
  Napi::Value set_communicator(const Napi::CallbackInfo& info);

  // Throws "busy" unless no async call is in flight: every read and write of the model waits
  // for the call in flight to settle, so nothing is torn or silently undone.
  void ensure_idle(Napi::Env env, const char* what);
  // Marks the model busy and runs `work` off the event loop; settles with `done`'s value.
  Napi::Value run_async(Napi::Env env, const char* name, std::function<void()> work,
                        std::function<Napi::Value(Napi::Env)> done);
  // A copy of the caller's images and labels, validated: the async call owns it, so the
  // caller may change, detach or free its arrays at once.
  struct Batch;
  std::shared_ptr<Batch> batch_args(const Napi::CallbackInfo& info, bool labels_required);
  // Which flat buffer `which` ('params' | 'grads' | 'optimizer') and slot names, checked.
  FlatBuffer buffer_arg(const Napi::CallbackInfo& info, size_t* slot, const char* what);
  void check_array(Napi::Env env, const Napi::Value& v, const char* what, void** data);

  std::shared_ptr<Model> model_;
  std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace grwarm::binding
