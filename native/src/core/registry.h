// Which backends exist and how models are made on them.
//
// The core knows only Backend<T>. Backends register a provider at start-up (backends.cpp is
// the one place that lists them: the built-in CPU backend and the plugin loader for CUDA),
// and `create_model("auto" | "cpu" | "cuda", ...)` picks one. A provider that cannot run
// here says exactly why, for `info` and for the error of an explicit `--device`.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "model.h"

namespace grwarm {

struct BackendStatus {
  std::string name;         // "cpu", "cuda"
  bool available = false;   // can create models here
  std::string reason;       // why not, when !available
  std::string detail;       // what it runs on, when available (describe())
  std::string origin;       // "built in", or the plugin file it came from
  bool float64 = false;     // supports Precision::F64
  bool bf16 = false;        // supports Precision::BF16 (bf16 GEMMs, float32 master)
  bool accelerator = false; // a GPU or similar: "auto" picks the first available one
};

class BackendProvider {
 public:
  virtual ~BackendProvider() = default;
  virtual std::string name() const = 0;
  // Probes once (cached): loading a plugin, finding a driver and libraries.
  virtual BackendStatus status() = 0;
  // Throw std::runtime_error with a message naming the backend when unavailable.
  virtual std::unique_ptr<Backend<float>> make_f32() = 0;
  virtual std::unique_ptr<Backend<double>> make_f64() = 0;
};

// Adds a provider; names are unique (a second provider with the same name replaces the first).
void register_backend(std::unique_ptr<BackendProvider> provider);
// Every registered backend, in registration order (the CPU backend first).
std::vector<BackendStatus> backend_statuses();
// The provider called `name`, or nullptr.
BackendProvider* find_backend(const std::string& name);

// Creates a model on `device`: "cpu", "cuda", or "auto" (the first available backend other
// than the CPU, else the CPU). Throws std::invalid_argument for an unknown device and
// std::runtime_error, with the backend's reason, for an unavailable one.
std::unique_ptr<Model> create_model(const std::string& device, const ModelConfig& cfg,
                                    Precision precision, uint64_t seed);

// Registers the backends this build has (defined in backends.cpp, the composition root).
// Idempotent; create_model and backend_statuses call it.
void register_builtin_backends();

}  // namespace grwarm
