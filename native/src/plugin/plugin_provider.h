// A registry entry backed by a plugin shared library (the CUDA backend: libgrwarm_cuda.so).
//
// The library is looked for at the path in an environment variable, else next to the module
// this code is linked into (the .node file, or a test executable), and opened with dlopen on
// first use, so the package loads and runs on machines without the plugin, its driver or its
// libraries; status() then says exactly which of those is missing.
#pragma once
#include <memory>
#include <string>

#include "../core/registry.h"

namespace grwarm::plugin {

// name: the device name ("cuda"); file: the library's file name; env: the override variable;
// accelerator: whether the plugin offers an accelerator (said before it is loaded, so that an
// unloadable plugin's reason still explains why "auto" chose the CPU).
std::unique_ptr<BackendProvider> make_plugin_provider(const std::string& name,
                                                      const std::string& file,
                                                      const std::string& env,
                                                      bool accelerator);

// The directory of the module (shared object or executable) this function lives in.
std::string this_module_dir();

}  // namespace grwarm::plugin
