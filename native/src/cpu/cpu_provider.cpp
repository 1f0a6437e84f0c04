#include "cpu_provider.h"

#include <stdexcept>

#include "dispatch.h"

namespace grwarm::cpu {

namespace {

// The CPU backend of the ISA variant dispatch.cpp chose (GRWARM_ISA or cpuid).
class CpuProvider final : public BackendProvider {
 public:
  std::string name() const override { return "cpu"; }
  BackendStatus status() override {
    BackendStatus s;
    s.name = "cpu";
    s.float64 = true;
    s.bf16 = true;
    s.accelerator = false;
    s.origin = "built in";
    try {
      s.detail = make_cpu_backend_f32()->describe();
      s.available = true;
    } catch (const std::exception& e) {  // GRWARM_ISA names kernels this CPU cannot run
      s.available = false;
      s.reason = e.what();
    }
    return s;
  }
  std::unique_ptr<Backend<float>> make_f32() override { return make_cpu_backend_f32(); }
  std::unique_ptr<Backend<double>> make_f64() override { return make_cpu_backend_f64(); }
};

}  // namespace

std::unique_ptr<BackendProvider> make_cpu_provider() { return std::make_unique<CpuProvider>(); }

}  // namespace grwarm::cpu
