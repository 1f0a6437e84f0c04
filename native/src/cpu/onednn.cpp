#include "onednn.h"

#include <dlfcn.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace grwarm::cpu {

namespace {

// ---- the part of the oneDNN 2.x C API we use, declared here (no dnnl.h at build time) ------
// Enum values and argument indices are those of dnnl_types.h 2.x; the two descriptor structs
// are written by the library and only passed back by address, so they are declared as
// byte blocks larger than the real ones (696 and 2800 bytes in 2.6). When dnnl_types.h is
// installed, native/tests/onednn_abi.cpp checks all of these against it at compile time.
using Status = int;
constexpr Status kSuccess = 0, kUnimplemented = 3;
constexpr int kDtBf16 = 2, kDtF32 = 3;
constexpr int kEngineCpu = 1;
constexpr unsigned kStreamDefault = 1;
constexpr int kQueryImplInfoStr = 8;
constexpr int kArgSrc = 1, kArgDst = 17, kArgWeights = 33, kArgBias = 41;
// DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1: the second input of post-op i.
constexpr int kArgPostOpSrc1Base = 16384, kArgSrc1 = 2;
constexpr int kAlgBinaryAdd = 0x1fff0;
using Dims = int64_t[12];

struct MemDesc {
  alignas(16) unsigned char bytes[2048];
};
struct MatmulDesc {
  alignas(16) unsigned char bytes[8192];
};
struct Engine;
struct Stream;
struct Attr;
struct PostOps;
struct PrimDesc;
struct Prim;
struct Memory;
struct ExecArg {
  int arg;
  Memory* memory;
};
struct Version {
  int major, minor, patch;
  const char* hash;
  unsigned cpu_runtime, gpu_runtime;
};

struct Api {
  void* handle = nullptr;
  std::string report;
  Engine* engine = nullptr;
  Status (*engine_create)(Engine**, int, size_t) = nullptr;
  Status (*stream_create)(Stream**, Engine*, unsigned) = nullptr;
  Status (*stream_wait)(Stream*) = nullptr;
  Status (*stream_destroy)(Stream*) = nullptr;
  Status (*md_init_by_strides)(MemDesc*, int, const int64_t*, int, const int64_t*) = nullptr;
  Status (*matmul_desc_init)(MatmulDesc*, const MemDesc*, const MemDesc*, const MemDesc*,
                             const MemDesc*) = nullptr;
  Status (*attr_create)(Attr**) = nullptr;
  Status (*attr_destroy)(Attr*) = nullptr;
  Status (*attr_set_output_scales)(Attr*, int64_t, int, const float*) = nullptr;
  Status (*attr_set_post_ops)(Attr*, const PostOps*) = nullptr;
  Status (*post_ops_create)(PostOps**) = nullptr;
  Status (*post_ops_append_sum)(PostOps*, float) = nullptr;
  Status (*post_ops_append_binary)(PostOps*, int, const MemDesc*) = nullptr;
  Status (*post_ops_destroy)(PostOps*) = nullptr;
  Status (*pd_create)(PrimDesc**, const void*, const Attr*, Engine*, const PrimDesc*) = nullptr;
  Status (*pd_query)(const PrimDesc*, int, int, void*) = nullptr;
  Status (*pd_destroy)(PrimDesc*) = nullptr;
  Status (*prim_create)(Prim**, const PrimDesc*) = nullptr;
  Status (*prim_execute)(const Prim*, Stream*, int, const ExecArg*) = nullptr;
  Status (*prim_destroy)(Prim*) = nullptr;
  Status (*memory_create)(Memory**, const MemDesc*, Engine*, void*) = nullptr;
  Status (*memory_set_data_handle)(Memory*, void*) = nullptr;
  Status (*memory_destroy)(Memory*) = nullptr;
  const Version* (*version)() = nullptr;
};

std::string trimmed(const char* s) {
  std::string r = s ? s : "";
  while (!r.empty() && (r.back() == ' ' || r.back() == '\n')) r.pop_back();
  return r;
}

template <class F>
bool bind(void* h, F& fn, const char* name, std::string& missing) {
  fn = reinterpret_cast<F>(dlsym(h, name));
  if (!fn && missing.empty()) missing = name;
  return fn != nullptr;
}

// Binds every entry point of an opened library; the name of the first missing one otherwise.
std::string bind_all(void* h, Api& a) {
  std::string m;
  bind(h, a.engine_create, "dnnl_engine_create", m);
  bind(h, a.stream_create, "dnnl_stream_create", m);
  bind(h, a.stream_wait, "dnnl_stream_wait", m);
  bind(h, a.stream_destroy, "dnnl_stream_destroy", m);
  bind(h, a.md_init_by_strides, "dnnl_memory_desc_init_by_strides", m);
  bind(h, a.matmul_desc_init, "dnnl_matmul_desc_init", m);
  bind(h, a.attr_create, "dnnl_primitive_attr_create", m);
  bind(h, a.attr_destroy, "dnnl_primitive_attr_destroy", m);
  bind(h, a.attr_set_output_scales, "dnnl_primitive_attr_set_output_scales", m);
  bind(h, a.attr_set_post_ops, "dnnl_primitive_attr_set_post_ops", m);
  bind(h, a.post_ops_create, "dnnl_post_ops_create", m);
  bind(h, a.post_ops_append_sum, "dnnl_post_ops_append_sum", m);
  bind(h, a.post_ops_append_binary, "dnnl_post_ops_append_binary", m);
  bind(h, a.post_ops_destroy, "dnnl_post_ops_destroy", m);
  bind(h, a.pd_create, "dnnl_primitive_desc_create", m);
  bind(h, a.pd_query, "dnnl_primitive_desc_query", m);
  bind(h, a.pd_destroy, "dnnl_primitive_desc_destroy", m);
  bind(h, a.prim_create, "dnnl_primitive_create", m);
  bind(h, a.prim_execute, "dnnl_primitive_execute", m);
  bind(h, a.prim_destroy, "dnnl_primitive_destroy", m);
  bind(h, a.memory_create, "dnnl_memory_create", m);
  bind(h, a.memory_set_data_handle, "dnnl_memory_set_data_handle", m);
  bind(h, a.memory_destroy, "dnnl_memory_destroy", m);
  bind(h, a.version, "dnnl_version", m);
  return m;
}

Api open_onednn() {
  Api a;
  const char* env = std::getenv("GRWARM_ONEDNN");
  std::vector<std::string> names;
  if (env && *env) {
    const std::string v = env;
    if (v == "off" || v == "0" || v == "none") {
      a.report = "oneDNN disabled by GRWARM_ONEDNN=" + v;
      return a;
    }
    names.push_back(v);
  } else {
    names = {"libdnnl.so.2", "libdnnl.so"};
  }
  std::string errors;
  for (const std::string& name : names) {
    dlerror();
    void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      if (errors.empty()) errors = trimmed(dlerror());
      continue;
    }
    // Identity first: nothing in a library is called before it shows oneDNN's entry point.
    auto version = reinterpret_cast<const Version* (*)()>(dlsym(h, "dnnl_version"));
    if (!version) {
      if (errors.empty()) errors = name + " is not oneDNN (it has no dnnl_version)";
      dlclose(h);
      continue;
    }
    const Version* v = version();
    if (!v || v->major != 2) {
      if (errors.empty())
        errors = name + " is oneDNN " + (v ? std::to_string(v->major) + "." + std::to_string(v->minor)
                                           : std::string("of unknown version")) +
                 ": only the oneDNN 2.x API is supported";
      dlclose(h);
      continue;
    }
    Api b;
    const std::string missing = bind_all(h, b);
    if (!missing.empty()) {
      if (errors.empty()) errors = name + " has no " + missing;
      dlclose(h);
      continue;
    }
    if (b.engine_create(&b.engine, kEngineCpu, 0) != kSuccess) {
      if (errors.empty()) errors = name + ": cannot create a CPU engine";
      dlclose(h);
      continue;
    }
    b.handle = h;
    b.report = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
               std::to_string(v->patch) + " (" + name + ")";
    return b;
  }
  const std::string tried = env && *env ? "GRWARM_ONEDNN=" + names[0] : names[0];
  a.report = tried + " not usable: " + errors;
  return a;
}

const Api& api() {
  static Api* a = nullptr;
  static std::once_flag once;
  std::call_once(once, [] { a = new Api(open_onednn()); });  // never closed: threads may run
  return *a;
}

void check(Status s, const char* what) {
  if (s != kSuccess)
    throw std::runtime_error(std::string("oneDNN: ") + what + " failed (status " +
                             std::to_string(s) + ")");
}

// Row-major op(X) of rows x cols stored with leading dimension ld.
void describe(MemDesc* md, int dt, Trans t, int rows, int cols, int ld) {
  Dims dims = {rows, cols}, strides = {0, 0};
  if (t == Trans::No) {
    strides[0] = ld;
    strides[1] = 1;
  } else {  // stored as cols x rows
    strides[0] = 1;
    strides[1] = ld;
  }
  check(api().md_init_by_strides(md, 2, dims, dt, strides), "memory descriptor");
}

// One cached primitive with its three memory objects (data handles set per call).
struct Entry {
  Prim* prim = nullptr;  // nullptr: oneDNN has no implementation for this case
  Memory* a = nullptr;
  Memory* b = nullptr;
  Memory* c = nullptr;
  Memory* bias = nullptr;
  Memory* add = nullptr;  // the binary post-op's input (residual add)
  int add_arg = 0;        // its execution argument index
  std::string impl;
};

// Creates the primitive for one case; entry.prim stays null when oneDNN has none.
Entry create(GemmInput in, Trans ta, Trans tb, int M, int N, int K, float alpha, int lda,
             int ldb, float beta, int ldc, bool with_bias, bool with_add) {
  const Api& A = api();
  const int dt = in == GemmInput::BF16 ? kDtBf16 : kDtF32;
  MemDesc a, b, c, bias, add;
  describe(&a, dt, ta, M, K, lda);
  describe(&b, dt, tb, K, N, ldb);
  describe(&c, kDtF32, Trans::No, M, N, ldc);
  if (with_bias) describe(&bias, kDtF32, Trans::No, 1, N, N);
  if (with_add) describe(&add, kDtF32, Trans::No, M, N, ldc);
  MatmulDesc desc;
  check(A.matmul_desc_init(&desc, &a, &b, with_bias ? &bias : nullptr, &c), "matmul descriptor");
  Entry e;
  Attr* attr = nullptr;
  PostOps* po = nullptr;
  check(A.attr_create(&attr), "attribute");
  PrimDesc* pd = nullptr;
  Status s = kSuccess;
  if (alpha != 1.0f) s = A.attr_set_output_scales(attr, 1, 0, &alpha);
  int n_post_ops = 0;
  if (s == kSuccess && (beta != 0.0f || with_add)) {
    s = A.post_ops_create(&po);
    if (s == kSuccess && beta != 0.0f) {
      s = A.post_ops_append_sum(po, beta);
      ++n_post_ops;
    }
    if (s == kSuccess && with_add) {
      s = A.post_ops_append_binary(po, kAlgBinaryAdd, &add);
      e.add_arg = kArgPostOpSrc1Base * (n_post_ops + 1) | kArgSrc1;
    }
    if (s == kSuccess) s = A.attr_set_post_ops(attr, po);
  }
  if (s == kSuccess) s = A.pd_create(&pd, &desc, attr, A.engine, nullptr);
  if (po) A.post_ops_destroy(po);
  A.attr_destroy(attr);
  if (s == kUnimplemented) return Entry{};
  check(s, "matmul primitive descriptor");
  const char* impl = nullptr;
  if (A.pd_query(pd, kQueryImplInfoStr, 0, &impl) == kSuccess && impl) e.impl = impl;
  s = A.prim_create(&e.prim, pd);
  A.pd_destroy(pd);
  check(s, "matmul primitive");
  check(A.memory_create(&e.a, &a, A.engine, nullptr), "memory");
  check(A.memory_create(&e.b, &b, A.engine, nullptr), "memory");
  check(A.memory_create(&e.c, &c, A.engine, nullptr), "memory");
  if (with_bias) check(A.memory_create(&e.bias, &bias, A.engine, nullptr), "memory");
  if (with_add) check(A.memory_create(&e.add, &add, A.engine, nullptr), "memory");
  return e;
}

void destroy(Entry& e) {
  const Api& A = api();
  for (Memory* m : {e.a, e.b, e.c, e.bias, e.add})
    if (m) A.memory_destroy(m);
  if (e.prim) A.prim_destroy(e.prim);
  e = Entry{};
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

class Matmul final : public OneDnnMatmul {
 public:
  Matmul() { check(api().stream_create(&stream_, api().engine, kStreamDefault), "stream"); }
  ~Matmul() override {
    for (auto& kv : cache_) destroy(kv.second);
    if (stream_) api().stream_destroy(stream_);
  }

  bool run(GemmInput in, Trans ta, Trans tb, int M, int N, int K, float alpha, const void* A,
           int lda, const void* B, int ldb, float beta, float* C, int ldc, const float* bias,
           const float* add) override {
    const Key key = {int64_t(in), int64_t(ta), int64_t(tb), M, N, K, lda, ldb, ldc,
                     int64_t(bits(alpha)), int64_t(bits(beta)),
                     int64_t(bias != nullptr) | int64_t(add != nullptr) << 1};
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      it = cache_.emplace(key, create(in, ta, tb, M, N, K, alpha, lda, ldb, beta, ldc,
                                      bias != nullptr, add != nullptr))
               .first;
      ++created_;
    }
    Entry& e = it->second;
    if (!e.prim) return false;
    const Api& api_ = api();
    check(api_.memory_set_data_handle(e.a, const_cast<void*>(A)), "set data handle");
    check(api_.memory_set_data_handle(e.b, const_cast<void*>(B)), "set data handle");
    check(api_.memory_set_data_handle(e.c, C), "set data handle");
    ExecArg args[5] = {{kArgSrc, e.a}, {kArgWeights, e.b}, {kArgDst, e.c}};
    int nargs = 3;
    if (bias) {
      check(api_.memory_set_data_handle(e.bias, const_cast<float*>(bias)), "set data handle");
      args[nargs++] = {kArgBias, e.bias};
    }
    if (add) {
      check(api_.memory_set_data_handle(e.add, const_cast<float*>(add)), "set data handle");
      args[nargs++] = {e.add_arg, e.add};
    }
    check(api_.prim_execute(e.prim, stream_, nargs, args), "matmul");
    check(api_.stream_wait(stream_), "stream wait");
    return true;
  }

  size_t primitives_created() const override { return created_; }

 private:
  using Key = std::array<int64_t, 12>;
  Stream* stream_ = nullptr;
  std::map<Key, Entry> cache_;
  size_t created_ = 0;
};

}  // namespace

bool onednn_loaded() { return api().handle != nullptr; }
std::string onednn_load_report() { return api().report; }

std::string onednn_impl(GemmInput in) {
  if (!onednn_loaded()) return "";
  static std::string names[2];
  static std::once_flag once[2];
  const int i = in == GemmInput::BF16 ? 1 : 0;
  std::call_once(once[i], [&] {
    try {
      Entry e = create(in, Trans::No, Trans::Yes, 1024, 256, 256, 1.0f, 256, 256, 0.0f, 256, false, false);
      names[i] = e.prim ? e.impl : "";
      destroy(e);
    } catch (const std::exception&) {
      names[i] = "";
    }
  });
  return names[i];
}

std::unique_ptr<OneDnnMatmul> make_onednn_matmul() {
  if (!onednn_loaded()) return nullptr;
  return std::make_unique<Matmul>();
}

}  // namespace grwarm::cpu
