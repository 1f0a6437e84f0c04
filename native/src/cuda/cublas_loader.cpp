#include "cublas_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace grwarm::cuda {

namespace {

// Shortens the usual "cannot open shared object file: No such file or directory" to what the
// user needs; keeps every other dlopen message (wrong ELF class, a missing dependency such
// as libcublasLt, ...) as it is.
std::string open_failure(const char* err) {
  const std::string e = err ? err : "dlopen failed";
  return e.find("No such file or directory") != std::string::npos &&
                 e.find("cannot open shared object file") != std::string::npos &&
                 e.find("libcublasLt") == std::string::npos
             ? "not found"
             : e;
}

template <class Fn>
bool resolve(void* lib, const char* symbol, Fn& out, std::string* missing) {
  out = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (!out && missing->empty()) *missing = symbol;
  return out != nullptr;
}

// Opens one candidate and resolves every entry point; on failure says why in *why.
bool try_load(const std::string& name, CublasApi* api, std::string* why) {
  void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    *why = open_failure(dlerror());
    return false;
  }
  if (!dlsym(lib, "cublasGetProperty")) {  // identity first: nothing is called before it
    *why = "not cuBLAS (it has no cublasGetProperty)";
    dlclose(lib);
    return false;
  }
  std::string missing;
  resolve(lib, "cublasCreate_v2", api->create, &missing);
  resolve(lib, "cublasDestroy_v2", api->destroy, &missing);
  resolve(lib, "cublasSetStream_v2", api->set_stream, &missing);
  resolve(lib, "cublasSetMathMode", api->set_math_mode, &missing);
  resolve(lib, "cublasGetVersion_v2", api->get_version, &missing);
  resolve(lib, "cublasGetProperty", api->get_property, &missing);
  resolve(lib, "cublasSgemm_v2", api->sgemm, &missing);
  resolve(lib, "cublasSgemmStridedBatched", api->sgemm_strided_batched, &missing);
  resolve(lib, "cublasDgemm_v2", api->dgemm, &missing);
  resolve(lib, "cublasDgemmStridedBatched", api->dgemm_strided_batched, &missing);
  // Optional: without it the backend has no bf16 (bf16() is null, bfloat16 is refused).
  api->gemm_ex = reinterpret_cast<blas::GemmExFn>(dlsym(lib, "cublasGemmEx"));
  if (!missing.empty()) {
    *why = "no symbol " + missing;
    dlclose(lib);
    *api = CublasApi{};
    return false;
  }
  // Never dlclose'd: handles and backends made from it may live until the process exits.
  api->origin = name;
  return true;
}

struct Loaded {
  std::once_flag once;
  bool ok = false;
  CublasApi api;
  std::string failure;
};

Loaded& loaded() {
  static Loaded l;
  return l;
}

void load(Loaded& l) {
  std::vector<std::string> candidates;
  std::vector<std::string> labels;
  if (const char* env = std::getenv("GRWARM_CUBLAS"); env && *env) {
    candidates.push_back(env);
    labels.push_back(std::string("GRWARM_CUBLAS=") + env);
  }
  for (const char* soname : {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}) {
    candidates.push_back(soname);
    labels.push_back(soname);
  }
  std::string tried;
  for (size_t i = 0; i < candidates.size(); ++i) {
    std::string why;
    if (try_load(candidates[i], &l.api, &why)) {
      l.ok = true;
      return;
    }
    tried += (tried.empty() ? "" : "; ") + labels[i] + ": " + why;
  }
  l.failure = "no usable cuBLAS (tried " + tried +
              "); install cuBLAS (e.g. the CUDA toolkit or the nvidia-cublas package) or set "
              "GRWARM_CUBLAS to the path of libcublas.so";
}

}  // namespace

const CublasApi* cublas_api(std::string* why) {
  Loaded& l = loaded();
  std::call_once(l.once, [&l] { load(l); });
  if (!l.ok && why) *why = l.failure;
  return l.ok ? &l.api : nullptr;
}

std::string cublas_version_string(const CublasApi& api) {
  int major = 0, minor = 0, patch = 0;
  if (api.get_property(blas::kMajorVersion, &major) != blas::kSuccess ||
      api.get_property(blas::kMinorVersion, &minor) != blas::kSuccess ||
      api.get_property(blas::kPatchLevel, &patch) != blas::kSuccess)
    return "(unknown version)";
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

}  // namespace grwarm::cuda
