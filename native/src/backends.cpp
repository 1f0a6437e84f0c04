// The composition root: the one place that lists the backends this build offers.
#include <mutex>

#include "core/registry.h"
#include "cpu/cpu_provider.h"
#include "plugin/plugin_provider.h"

namespace grwarm {

void register_builtin_backends() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_backend(cpu::make_cpu_provider());
    // CUDA lives in its own library so the package runs where CUDA does not.
    register_backend(plugin::make_plugin_provider("cuda", "libgrwarm_cuda.so", "GRWARM_CUDA_PLUGIN",
                                                  /*accelerator=*/true));
  });
}

}  // namespace grwarm
