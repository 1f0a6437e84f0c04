// Runs native work off the event loop and settles a Promise with its result, safely.
//
// Built on the plain N-API async-work C API rather than Napi::AsyncWorker, because its
// completion must survive environment teardown: when a worker thread is terminated while a
// step runs, Node still calls the completion during cleanup, and any JS call made there
// fails. node-addon-api would turn that failure into a C++ exception thrown outside any
// handler (std::terminate, the whole process dies). Here nothing thrown on either side
// escapes: `work` runs on a libuv thread and its exceptions become the rejection message;
// `done` runs on the JS thread, and when the environment is going away it is skipped.
//
// The work must not touch JS values or JS-owned memory: callers copy their inputs first.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>

namespace grwarm::binding {

// Per-environment state of the addon (one per main thread or worker thread).
struct AddonEnv {
  bool closing = false;  // set by the environment's cleanup hook
};

// The AddonEnv of `env` (created by the module's init).
AddonEnv* addon_env(napi_env env);

class NativeCall {
 public:
  using Work = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  using Finally = std::function<void()>;

  // Queues `work`; returns the Promise. `finally` runs on the JS thread when the call has
  // ended, whatever happened (also during teardown), before the Promise settles.
  static Napi::Value start(Napi::Env env, const char* name, Work work, Done done, Finally finally);

 private:
  NativeCall(Work work, Done done, Finally finally)
      : work_(std::move(work)), done_(std::move(done)), finally_(std::move(finally)) {}
  static void execute(napi_env env, void* data);
  static void complete(napi_env env, napi_status status, void* data);
  void settle(napi_env env);

  Work work_;
  Done done_;
  Finally finally_;
  napi_deferred deferred_ = nullptr;
  napi_async_work async_ = nullptr;
  std::string error_;  // set by execute when work_ threw
  bool failed_ = false;
};

}  // namespace grwarm::binding
