#include "distributed.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "args.h"
#include "mpi/comm_plugin_abi.h"
#include "plugin/plugin_provider.h"

namespace grwarm::binding {

namespace {

// Marks NativeCommunicator objects, so setCommunicator can check what it is given.
const napi_type_tag kCommTag = {0x67727761726d2d63ULL, 0x6f6d6d756e696361ULL};

// libgrwarm_mpi.so, opened once per process (and never closed: MPI lives until exit).
const GrwarmCommPlugin* load_plugin(std::string* error) {
  static std::mutex mu;
  static const GrwarmCommPlugin* api = nullptr;
  static std::string reason;
  static bool tried = false;
  std::lock_guard<std::mutex> lock(mu);
  if (tried) {
    *error = reason;
    return api;
  }
  tried = true;
  const char* env = std::getenv("GRWARM_MPI_PLUGIN");
  const std::string path = env && *env ? env : plugin::this_module_dir() + "/libgrwarm_mpi.so";
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) {
    reason = env && *env ? "no MPI plugin at " + path + " (set by GRWARM_MPI_PLUGIN)"
                         : "this build has no MPI support: " + path +
                               " does not exist. Install MPI (Debian: apt-get install openmpi-bin "
                               "libopenmpi-dev) and rebuild (npm run build:native)";
  } else if (void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL); !lib) {
    const char* e = dlerror();
    reason = "cannot load " + path + ": " + (e ? e : "dlopen failed") +
             " (is the MPI runtime installed? Debian: apt-get install openmpi-bin)";
  } else if (auto entry = reinterpret_cast<GrwarmCommPluginFn>(dlsym(lib, "grwarm_comm_plugin")); !entry) {
    reason = path + " is not a grwarm communicator plugin (no grwarm_comm_plugin symbol)";
  } else if (const GrwarmCommPlugin* p = entry(); !p || p->abi != GRWARM_COMM_PLUGIN_ABI) {
    reason = path + " was built for communicator ABI " + std::to_string(p ? p->abi : -1) +
             ", this addon needs " + std::to_string(GRWARM_COMM_PLUGIN_ABI) + " (rebuild it)";
  } else {
    api = p;
  }
  *error = reason;
  return api;
}

// 64-bit hash of a buffer's bytes (FNV-1a over 8-byte words, then splitmix64 finalised).
uint64_t hash_bytes(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  h ^= uint64_t(n);
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

std::string hex(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

Napi::Function CommWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeCommunicator",
                     {
                         InstanceMethod("rank", &CommWrap::rank),
                         InstanceMethod("size", &CommWrap::size),
                         InstanceMethod("describe", &CommWrap::describe),
                         InstanceMethod("allreduceScalars", &CommWrap::allreduce_scalars),
                         InstanceMethod("broadcast", &CommWrap::broadcast),
                         InstanceMethod("barrier", &CommWrap::barrier),
                         InstanceMethod("checkReplicas", &CommWrap::check_replicas),
                         InstanceMethod("finalize", &CommWrap::finalize),
                         InstanceMethod("abort", &CommWrap::abort),
                     });
}

// new NativeCommunicator(timeoutSec): joins the job this process was launched in (MPI).
CommWrap::CommWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CommWrap>(info) {
  Napi::Env env = info.Env();
  const double timeout = info.Length() > 0 && !info[0].IsUndefined() ? number_arg(info[0], "timeoutSec") : 0;
  if (!(timeout >= 0 && timeout < 1e9)) range_error(env, "timeoutSec: expected a number of seconds >= 0, got " + binding::describe(info[0]));
  std::string why;
  const GrwarmCommPlugin* api = load_plugin(&why);
  if (!api) throw Napi::Error::New(env, why);
  char err[1024] = {0};
  Communicator* c = api->create(timeout, err, sizeof err);
  if (!c) throw Napi::Error::New(env, std::string("MPI: ") + (err[0] ? err : "could not join the job"));
  comm_.reset(c);
  napi_type_tag_object(env, info.This(), &kCommTag);
}

std::shared_ptr<Communicator> CommWrap::from(Napi::Env env, const Napi::Value& v, const char* what) {
  bool tagged = false;
  if (v.IsObject()) napi_check_object_type_tag(env, v, &kCommTag, &tagged);
  if (!tagged) type_error(env, std::string(what) + ": expected a NativeCommunicator, got " + binding::describe(v));
  return Unwrap(v.As<Napi::Object>())->comm_;
}

Communicator& CommWrap::comm(Napi::Env env) {
  if (!comm_) throw Napi::Error::New(env, "communicator: not open");
  return *comm_;
}

Napi::Value CommWrap::rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), comm(info.Env()).rank()); }
Napi::Value CommWrap::size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), comm(info.Env()).size()); }
Napi::Value CommWrap::describe(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), comm(info.Env()).describe());
}

// allreduceScalars(Float64Array): element-wise sum over ranks, in place (synchronous).
Napi::Value CommWrap::allreduce_scalars(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float64Array a = typed_array_arg<Napi::Float64Array>(info[0], napi_float64_array, "a Float64Array", "values");
  std::vector<double> v(a.Data(), a.Data() + a.ElementLength());
  try {
    comm(env).allreduce_scalars(v.data(), v.size());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  std::memcpy(a.Data(), v.data(), v.size() * sizeof(double));
  return env.Undefined();
}

// broadcast(Uint8Array, root): root's bytes to every rank, in place (synchronous). Every rank
// passes an array of the same length.
Napi::Value CommWrap::broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array a = typed_array_arg<Napi::Uint8Array>(info[0], napi_uint8_array, "a Uint8Array", "bytes");
  const int root = int_arg(info[1], "root", 0, comm(env).size() - 1);
  std::vector<uint8_t> v(a.Data(), a.Data() + a.ElementLength());
  try {
    comm(env).broadcast(v.data(), v.size(), root);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  std::memcpy(a.Data(), v.data(), v.size());
  return env.Undefined();
}

Napi::Value CommWrap::barrier(const Napi::CallbackInfo& info) {
  try {
    comm(info.Env()).barrier();
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  return info.Env().Undefined();
}

// checkReplicas(typedArray) -> { hash, mismatched: number[] }: hashes the array (a host copy
// of the parameters), compares with rank 0's hash; every rank learns which ranks differ.
Napi::Value CommWrap::check_replicas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) type_error(env, "values: expected a typed array, got " + binding::describe(info[0]));
  Napi::TypedArray a = info[0].As<Napi::TypedArray>();
  const uint8_t* p = static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  const size_t bytes = a.ByteLength();
  Communicator& c = comm(env);
  const uint64_t mine = hash_bytes(p, bytes);
  uint64_t root = mine;
  std::vector<double> differs(size_t(c.size()), 0.0);
  try {
    c.broadcast(&root, sizeof root, 0);
    differs[size_t(c.rank())] = root == mine ? 0.0 : 1.0;
    c.allreduce_scalars(differs.data(), differs.size());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("hash", hex(mine));
  o.Set("rootHash", hex(root));
  Napi::Array list = Napi::Array::New(env);
  uint32_t k = 0;
  for (size_t r = 0; r < differs.size(); ++r)
    if (differs[r] != 0) list.Set(k++, Napi::Number::New(env, double(r)));
  o.Set("mismatched", list);
  return o;
}

// finalize(): leaves the job cleanly (call once, at the end of the run, on every rank).
Napi::Value CommWrap::finalize(const Napi::CallbackInfo& info) {
  std::string why;
  if (const GrwarmCommPlugin* api = load_plugin(&why)) api->finalize();
  return info.Env().Undefined();
}

// abort(code): ends every rank of the job now.
Napi::Value CommWrap::abort(const Napi::CallbackInfo& info) {
  const int code = int_arg(info[0], "code", 0, 255);
  std::string why;
  if (const GrwarmCommPlugin* api = load_plugin(&why)) api->abort(code);
  std::_Exit(code);
}

}  // namespace grwarm::binding
