// The C entry point of a backend plugin (a shared library the addon opens with dlopen).
//
// A plugin is built from the same headers as the addon (backend.h, include/grwarm/*.h) and
// with the same C++ compiler and standard library, so it hands out Backend<T> objects
// directly. The plugin never touches Node: the addon can load it from a .node file or from a
// plain test executable alike. The CUDA backend is the one plugin so far (libgrwarm_cuda.so).
#pragma once
#include <cstddef>

#include "backend.h"

// Bumped whenever Backend<T> or this struct changes; the loader refuses other versions.
#define GRWARM_PLUGIN_ABI 5

extern "C" {

struct GrwarmBackendPlugin {
  int abi;           // GRWARM_PLUGIN_ABI of the headers the plugin was built with
  const char* name;  // the device name users select: "cuda"
  // Checks that the backend can run here (driver, a device, its libraries). Returns 1 when it
  // can; otherwise 0, with the reason written to `reason` (e.g. "CUDA driver version is
  // insufficient for CUDA runtime version", "no libcublas found (tried libcublas.so.13, ...)").
  int (*probe)(char* reason, size_t reason_size);
  // One line about the device and libraries in use, valid after a successful probe.
  const char* (*describe)();
  // A new backend on the current device; nullptr with the reason in `error` on failure.
  grwarm::Backend<float>* (*create_f32)(char* error, size_t error_size);
  // nullptr when the plugin has no float64 support (the loader then refuses float64 clearly).
  grwarm::Backend<double>* (*create_f64)(char* error, size_t error_size);
  // 1 when create_f32's backends support precision bfloat16 (bf16() != nullptr), valid after a
  // successful probe; nullptr or 0: bfloat16 is refused on this device.
  int (*bf16)();
  // 1 when the device is an accelerator ("auto" prefers it over the CPU).
  int accelerator;
};

// The one symbol a plugin exports.
const GrwarmBackendPlugin* grwarm_backend_plugin();
typedef const GrwarmBackendPlugin* (*GrwarmBackendPluginFn)();
}
