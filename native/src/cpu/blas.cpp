#include "blas.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace grwarm::cpu {

namespace {

// The CBLAS / OpenBLAS entry points we use, declared here (no cblas.h, no -lopenblas).
enum CblasOrder { CblasRowMajor = 101 };
enum CblasTranspose { CblasNoTrans = 111, CblasTrans = 112 };
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
using DgemmFn = void (*)(int, int, int, int, int, int, double, const double*, int, const double*,
                         int, double, double*, int);
using SetThreadsFn = void (*)(int);
using GetStringFn = char* (*)();

struct Blas {
  void* handle = nullptr;
  SgemmFn sgemm = nullptr;
  DgemmFn dgemm = nullptr;
  SetThreadsFn set_threads = nullptr;
  std::string report;
};

std::string trimmed(const char* s) {
  std::string r = s ? s : "";
  while (!r.empty() && (r.back() == ' ' || r.back() == '\n')) r.pop_back();
  return r;
}

Blas open_blas() {
  Blas b;
#ifdef GRWARM_BLAS_OFF
  b.report = "OpenBLAS not used: built with -DGRWARM_BLAS=OFF";
  return b;
#endif
  const char* env = std::getenv("GRWARM_OPENBLAS");
  std::vector<std::string> names;
  if (env && *env) {
    const std::string v = env;
    if (v == "off" || v == "0" || v == "none") {
      b.report = "OpenBLAS disabled by GRWARM_OPENBLAS=" + v;
      return b;
    }
    names.push_back(v);
  } else {
    names = {"libopenblas.so.0", "libopenblas.so"};
  }
  std::string errors;
  for (const std::string& name : names) {
    dlerror();
    void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      if (errors.empty()) errors = trimmed(e);  // the first failure says the most
      continue;
    }
    // Identity first: another BLAS (or any library) named here is refused as not OpenBLAS.
    auto config = reinterpret_cast<GetStringFn>(dlsym(h, "openblas_get_config"));
    if (!config) {
      dlclose(h);
      if (errors.empty()) errors = name + " is not OpenBLAS (it has no openblas_get_config)";
      continue;
    }
    b.sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
    b.dgemm = reinterpret_cast<DgemmFn>(dlsym(h, "cblas_dgemm"));
    b.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
    auto corename = reinterpret_cast<GetStringFn>(dlsym(h, "openblas_get_corename"));
    if (!b.sgemm || !b.dgemm || !b.set_threads) {
      dlclose(h);
      b.sgemm = nullptr;
      b.dgemm = nullptr;
      b.set_threads = nullptr;
      if (errors.empty()) errors = name + " has no cblas_sgemm/cblas_dgemm/openblas_set_num_threads";
      continue;
    }
    b.handle = h;
    std::string desc = trimmed(config());
    const std::string core = corename ? trimmed(corename()) : "";
    if (!core.empty() && desc.find(core) == std::string::npos) desc += " core " + core;
    if (desc.rfind("OpenBLAS", 0) != 0) desc = "OpenBLAS" + (desc.empty() ? "" : " " + desc);
    b.report = desc + " (" + name + ")";
    return b;
  }
  const std::string tried = env && *env ? "GRWARM_OPENBLAS=" + names[0] : names[0];
  b.report = tried + " not found: " + errors;
  return b;
}

const Blas& blas() {
  static Blas* b = nullptr;
  static std::once_flag once;
  std::call_once(once, [] { b = new Blas(open_blas()); });  // never closed: threads may run
  return *b;
}

int cb(Trans t) { return t == Trans::Yes ? CblasTrans : CblasNoTrans; }

}  // namespace

bool blas_loaded() { return blas().handle != nullptr; }
std::string blas_load_report() { return blas().report; }

void blas_set_threads(int n) {
  if (blas_loaded()) blas().set_threads(n);  // process-wide in OpenBLAS
}

void blas_gemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
               const float* B, int ldb, float beta, float* C, int ldc) {
  blas().sgemm(CblasRowMajor, cb(ta), cb(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void blas_gemm(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda,
               const double* B, int ldb, double beta, double* C, int ldc) {
  blas().dgemm(CblasRowMajor, cb(ta), cb(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace grwarm::cpu
