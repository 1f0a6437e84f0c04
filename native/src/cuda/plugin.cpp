// The plugin's C entry point (core/plugin_abi.h): probe, describe, create.
//
// Nothing here may throw across the C boundary: every entry catches and reports through its
// message buffer. The only exported symbol is grwarm_backend_plugin (exports.map).
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <string>

#include "../core/plugin_abi.h"
#include "backend.h"
#include "cublas_loader.h"

namespace grwarm::cuda {
namespace {

void write_message(char* buf, size_t size, const std::string& msg) {
  if (buf && size > 0) std::snprintf(buf, size, "%s", msg.c_str());
}

std::string cuda_version(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

// The oldest Linux driver of this CUDA major version (NVIDIA's compatibility table: minor
// version compatibility within a major release).
const char* min_driver() { return CUDART_VERSION >= 13000 ? "580" : CUDART_VERSION >= 12000 ? "525" : "450"; }

// Why CUDA itself cannot start, from cudaGetDeviceCount's error, prefixed with what it means.
// "Insufficient driver" covers both a missing driver and an old one; cudaDriverGetVersion
// tells them apart (0: no driver could be loaded).
std::string cuda_unavailable(cudaError_t e) {
  const std::string text = cudaGetErrorString(e);
  switch (e) {
    case cudaErrorInsufficientDriver: {
      int driver = 0;
      if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = -1;
      (void)cudaGetLastError();
      if (driver == 0)
        return "no NVIDIA driver found (libcuda.so.1 cannot be loaded): install the NVIDIA driver "
               "(for CUDA " + cuda_version(CUDART_VERSION) + ": version " + min_driver() + " or newer)";
      if (driver > 0)
        return "NVIDIA driver too old: found a driver for CUDA " + cuda_version(driver) +
               ", this plugin needs CUDA " + cuda_version(CUDART_VERSION) +
               " (driver " + min_driver() + " or newer)";
      return "no usable CUDA driver: " + text + " (this plugin needs an NVIDIA driver for CUDA " +
             cuda_version(CUDART_VERSION) + " or newer)";
    }
    case cudaErrorNoDevice:
      return "no CUDA device: " + text;
    default:
      return "CUDA cannot start: " + text;
  }
}

// The device to use: GRWARM_CUDA_DEVICE when set (a number below `count`), else 0.
// Returns -1 with the reason in *why when the variable is invalid.
int chosen_device(int count, std::string* why) {
  const char* env = std::getenv("GRWARM_CUDA_DEVICE");
  if (!env || !*env) return 0;
  char* end = nullptr;
  const long d = std::strtol(env, &end, 10);
  if (*end != '\0' || d < 0 || d >= count) {
    *why = std::string("GRWARM_CUDA_DEVICE=") + env +
           " is not a CUDA device index (this machine has " + std::to_string(count) + " device" +
           (count == 1 ? "" : "s") + ": 0.." + std::to_string(count - 1) + ")";
    return -1;
  }
  return int(d);
}

// Checks driver, device and cuBLAS; on success sets *device and *api.
bool check_usable(int* device, const CublasApi** api, std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    *why = cuda_unavailable(e);
    return false;
  }
  if (count < 1) {
    *why = "no CUDA device found";
    return false;
  }
  *device = chosen_device(count, why);
  if (*device < 0) return false;
  *api = cublas_api(why);
  return *api != nullptr;
}

int probe(char* reason, size_t reason_size) {
  try {
    int device = 0;
    const CublasApi* api = nullptr;
    std::string why;
    if (check_usable(&device, &api, &why)) return 1;
    write_message(reason, reason_size, why);
  } catch (const std::exception& e) {
    write_message(reason, reason_size, e.what());
  } catch (...) {
    write_message(reason, reason_size, "unknown error while probing CUDA");
  }
  return 0;
}

// bf16 GEMMs need cublasGemmEx (cuBLAS 11+) and a GPU with bf16 tensor cores (sm_80+).
int bf16() {
  try {
    int device = 0;
    const CublasApi* api = nullptr;
    std::string why;
    if (!check_usable(&device, &api, &why) || !api->gemm_ex) return 0;
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return 0;
    return prop.major >= 8 ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

const char* describe() {
  static std::mutex mu;
  static std::string text;
  std::lock_guard<std::mutex> lock(mu);
  if (text.empty()) {
    try {
      int device = 0;
      const CublasApi* api = nullptr;
      std::string why;
      text = check_usable(&device, &api, &why) ? device_summary(device, *api) : "cuda: " + why;
    } catch (const std::exception& e) {
      text = std::string("cuda: ") + e.what();
    }
  }
  return text.c_str();
}

template <class T>
Backend<T>* create(char* error, size_t error_size) {
  try {
    int device = 0;
    const CublasApi* api = nullptr;
    std::string why;
    if (!check_usable(&device, &api, &why)) {
      write_message(error, error_size, why);
      return nullptr;
    }
    return new CudaBackend<T>(device, *api);
  } catch (const std::bad_alloc&) {
    write_message(error, error_size, "out of memory while creating the CUDA backend");
  } catch (const std::exception& e) {
    write_message(error, error_size, e.what());
  } catch (...) {
    write_message(error, error_size, "unknown error while creating the CUDA backend");
  }
  return nullptr;
}

Backend<float>* create_f32(char* error, size_t error_size) {
  return create<float>(error, error_size);
}
Backend<double>* create_f64(char* error, size_t error_size) {
  return create<double>(error, error_size);
}

const GrwarmBackendPlugin kPlugin = {
    GRWARM_PLUGIN_ABI, "cuda", &probe, &describe, &create_f32, &create_f64, &bf16, 1,
};

}  // namespace
}  // namespace grwarm::cuda

extern "C" __attribute__((visibility("default"))) const GrwarmBackendPlugin*
grwarm_backend_plugin() {
  return &grwarm::cuda::kPlugin;
}
