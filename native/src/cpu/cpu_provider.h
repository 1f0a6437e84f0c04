// The registry entry of the built-in CPU backend.
#pragma once
#include <memory>

#include "../core/registry.h"

namespace grwarm::cpu {

std::unique_ptr<BackendProvider> make_cpu_provider();

}  // namespace grwarm::cpu
