// Runs native work off the event loop and settles a Promise with its result.
//
// `work` runs on a libuv worker thread and must not touch JS values; `done` runs back on
// the JS thread and turns the result into a JS value. A C++ exception thrown by `work`
// rejects the Promise with its message instead of terminating the process.
#pragma once
#include <napi.h>

#include <functional>
#include <utility>
#include <vector>

namespace grwarm::binding {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;

  // `keep_alive` holds JS objects (input arrays) until the work has finished.
  static Napi::Promise run(Napi::Env env, Work work, Done done, std::vector<Napi::Object> keep_alive,
                           std::function<void()> finally = {}) {
    auto* w = new PromiseWorker(env, std::move(work), std::move(done), std::move(finally));
    for (auto& o : keep_alive) w->refs_.push_back(Napi::Persistent(o));
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (finally_) finally_();
    try {
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(env, e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    if (finally_) finally_();
    deferred_.Reject(e.Value());
  }

 private:
  PromiseWorker(Napi::Env env, Work work, Done done, std::function<void()> finally)
      : Napi::AsyncWorker(env, "grwarm.native"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        done_(std::move(done)),
        finally_(std::move(finally)) {}

  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  std::function<void()> finally_;
  std::vector<Napi::ObjectReference> refs_;
};

}  // namespace grwarm::binding
