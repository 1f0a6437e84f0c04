// The JS class `NativeCommunicator`: this process's place in a data-parallel job, backed by a
// communicator plugin (libgrwarm_mpi.so, opened with dlopen only when a run asks for it).
#pragma once
#include <napi.h>

#include <memory>

#include "core/communicator.h"

namespace grwarm::binding {

class CommWrap : public Napi::ObjectWrap<CommWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit CommWrap(const Napi::CallbackInfo& info);
  // The communicator behind a NativeCommunicator object; throws a TypeError naming `what` for
  // anything else.
  static std::shared_ptr<Communicator> from(Napi::Env env, const Napi::Value& v, const char* what);

 private:
  Napi::Value rank(const Napi::CallbackInfo& info);
  Napi::Value size(const Napi::CallbackInfo& info);
  Napi::Value describe(const Napi::CallbackInfo& info);
  Napi::Value allreduce_scalars(const Napi::CallbackInfo& info);
  Napi::Value broadcast(const Napi::CallbackInfo& info);
  Napi::Value barrier(const Napi::CallbackInfo& info);
  Napi::Value check_replicas(const Napi::CallbackInfo& info);
  Napi::Value finalize(const Napi::CallbackInfo& info);
  Napi::Value abort(const Napi::CallbackInfo& info);
  Communicator& comm(Napi::Env env);

  std::shared_ptr<Communicator> comm_;
};

}  // namespace grwarm::binding
