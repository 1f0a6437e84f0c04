#include "native_call.h"

#include <new>

#include "cpu/parallel.h"

namespace grwarm::binding {

AddonEnv* addon_env(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok) return nullptr;
  return static_cast<AddonEnv*>(data);
}

Napi::Value NativeCall::start(Napi::Env env, const char* name, Work work, Done done,
                              Finally finally) {
  std::unique_ptr<NativeCall> call(new NativeCall(std::move(work), std::move(done), std::move(finally)));
  napi_value promise = nullptr, resource_name = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &call->deferred_, &promise), Napi::Value());
  NAPI_THROW_IF_FAILED(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name),
                       Napi::Value());
  NAPI_THROW_IF_FAILED(env,
                       napi_create_async_work(env, nullptr, resource_name, &NativeCall::execute,
                                              &NativeCall::complete, call.get(), &call->async_),
                       Napi::Value());
  if (napi_queue_async_work(env, call->async_) != napi_ok) {
    napi_delete_async_work(env, call->async_);
    NAPI_THROW(Napi::Error::New(env, std::string(name) + ": could not queue the native call"), Napi::Value());
  }
  call.release();  // owned by the async work until complete()
  return Napi::Value(env, promise);
}

void NativeCall::execute(napi_env, void* data) {
  auto* self = static_cast<NativeCall*>(data);
  try {
    // The thread count is per thread in OpenMP: apply it here, on the thread that runs the
    // kernels (setThreads on the JS thread would not reach a libuv worker thread).
    cpu::apply_threads_here();
    self->work_();
  } catch (const std::bad_alloc&) {
    self->failed_ = true;
    self->error_ = "out of memory";
  } catch (const std::exception& e) {
    self->failed_ = true;
    self->error_ = e.what();
  } catch (...) {
    self->failed_ = true;
    self->error_ = "unknown native error";
  }
}

void NativeCall::complete(napi_env env, napi_status status, void* data) {
  std::unique_ptr<NativeCall> self(static_cast<NativeCall*>(data));
  try {
    if (self->finally_) self->finally_();
  } catch (...) {
  }
  const AddonEnv* ae = addon_env(env);
  const bool closing = status == napi_cancelled || (ae && ae->closing);
  if (!closing) {
    try {
      self->settle(env);
    } catch (...) {
      // The environment is going away under us: nothing left to tell JS.
    }
  }
  napi_delete_async_work(env, self->async_);
}

// Resolves or rejects the Promise. Runs on the JS thread inside a handle scope.
void NativeCall::settle(napi_env env) {
  Napi::HandleScope scope(env);
  Napi::Env e(env);
  napi_value error_value = nullptr;
  if (failed_) {
    error_value = Napi::Error::New(e, error_).Value();
  } else {
    try {
      napi_value v = done_(e);
      napi_resolve_deferred(env, deferred_, v);
      return;
    } catch (const Napi::Error& err) {
      error_value = err.Value();
    } catch (const std::exception& ex) {
      error_value = Napi::Error::New(e, ex.what()).Value();
    }
  }
  napi_reject_deferred(env, deferred_, error_value);
}

}  // namespace grwarm::binding
