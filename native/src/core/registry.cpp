#include "registry.h"

#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include "profiling_backend.h"
#include "flat_model.h"

namespace grwarm {

namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::vector<std::unique_ptr<BackendProvider>>& providers() {
  static std::vector<std::unique_ptr<BackendProvider>> list;
  return list;
}

template <class T>
std::unique_ptr<Backend<T>> maybe_profiled(std::unique_ptr<Backend<T>> be) {
  if (std::getenv("GRWARM_PROFILE")) return std::make_unique<ProfilingBackend<T>>(std::move(be));
  return be;
}

std::string known_names() {
  std::string s = "\"auto\"";
  for (auto& p : providers()) s += ", \"" + p->name() + "\"";
  return s;
}

}  // namespace

void register_backend(std::unique_ptr<BackendProvider> provider) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (auto& p : providers())
    if (p->name() == provider->name()) {
      p = std::move(provider);
      return;
    }
  providers().push_back(std::move(provider));
}

BackendProvider* find_backend(const std::string& name) {
  register_builtin_backends();
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (auto& p : providers())
    if (p->name() == name) return p.get();
  return nullptr;
}

std::vector<BackendStatus> backend_statuses() {
  register_builtin_backends();
  std::vector<BackendProvider*> list;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    for (auto& p : providers()) list.push_back(p.get());
  }
  std::vector<BackendStatus> out;
  for (BackendProvider* p : list) out.push_back(p->status());
  return out;
}

std::unique_ptr<Model> create_model(const std::string& device, const ModelConfig& cfg,
                                    Precision precision, uint64_t seed) {
  register_builtin_backends();
  BackendProvider* chosen = nullptr;
  if (device == "auto") {
    // The first available accelerator, else the CPU. float64 and bfloat16 go where they are
    // supported.
    for (const BackendStatus& st : backend_statuses())
      if (st.accelerator && st.available && (precision != Precision::F64 || st.float64) &&
          (precision != Precision::BF16 || st.bf16)) {
        chosen = find_backend(st.name);
        break;
      }
    if (!chosen)  // no accelerator: the first available backend (the CPU, registered first)
      for (const BackendStatus& st : backend_statuses())
        if (st.available) {
          chosen = find_backend(st.name);
          break;
        }
  } else {
    chosen = find_backend(device);
    if (!chosen)
      throw std::invalid_argument("device: got \"" + device + "\", expected one of " + known_names());
  }
  if (!chosen) throw std::runtime_error("no backend is registered (this build is broken)");
  const BackendStatus st = chosen->status();
  if (!st.available)
    throw std::runtime_error("device \"" + st.name + "\" is not available: " + st.reason);
  if (precision == Precision::F64) {
    if (!st.float64)
      throw std::invalid_argument("precision float64 is not supported on device \"" + st.name +
                                  "\" (float32 only); use the cpu device for float64");
    return std::make_unique<FlatModel<double>>(cfg, maybe_profiled(chosen->make_f64()), seed);
  }
  if (precision == Precision::BF16 && !st.bf16)
    throw std::invalid_argument("precision bfloat16 is not supported on device \"" + st.name +
                                "\" yet; use the cpu device for bfloat16");
  return std::make_unique<FlatModel<float>>(cfg, maybe_profiled(chosen->make_f32()), seed,
                                      precision == Precision::BF16);
}

}  // namespace grwarm
