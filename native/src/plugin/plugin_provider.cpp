#include "plugin_provider.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include "../core/plugin_abi.h"

namespace grwarm::plugin {

std::string this_module_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&this_module_dir), &info) == 0 || !info.dli_fname) return ".";
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

namespace {

bool file_exists(const std::string& p) {
  struct stat st{};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

class PluginProvider final : public BackendProvider {
 public:
  PluginProvider(std::string name, std::string file, std::string env, bool accelerator)
      : name_(std::move(name)), file_(std::move(file)), env_(std::move(env)), accelerator_(accelerator) {}

  std::string name() const override { return name_; }

  BackendStatus status() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!probed_) probe();
    return status_;
  }

  std::unique_ptr<Backend<float>> make_f32() override {
    const BackendStatus st = status();
    if (!st.available) throw std::runtime_error("device \"" + name_ + "\" is not available: " + st.reason);
    char err[1024] = {0};
    Backend<float>* be = api_->create_f32(err, sizeof err);
    if (!be) throw std::runtime_error(name_ + " backend: " + (err[0] ? err : "creation failed"));
    return std::unique_ptr<Backend<float>>(be);
  }

  std::unique_ptr<Backend<double>> make_f64() override {
    const BackendStatus st = status();
    if (!st.available) throw std::runtime_error("device \"" + name_ + "\" is not available: " + st.reason);
    if (!api_->create_f64)
      throw std::invalid_argument("precision float64 is not supported on device \"" + name_ + "\"");
    char err[1024] = {0};
    Backend<double>* be = api_->create_f64(err, sizeof err);
    if (!be) throw std::runtime_error(name_ + " backend: " + (err[0] ? err : "creation failed"));
    return std::unique_ptr<Backend<double>>(be);
  }

 private:
  // Fills status_ once. The library stays loaded for the life of the process (backends made
  // by it may live until exit), so it is never dlclose'd.
  void probe() {
    probed_ = true;
    status_.name = name_;
    // Known before loading, so that "why is there no accelerator" can name this plugin's reason.
    status_.accelerator = accelerator_;
    const char* override_path = std::getenv(env_.c_str());
    const std::string path = override_path && *override_path ? override_path : this_module_dir() + "/" + file_;
    status_.origin = path;
    if (!file_exists(path)) {
      status_.reason = override_path && *override_path
                           ? "no plugin at " + path + " (set by " + env_ + ")"
                           : "no plugin built: " + path +
                                 " does not exist (this build has no " + name_ +
                                 " backend; build with nvcc installed, see the README)";
      return;
    }
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      status_.reason = "cannot load " + path + ": " + (e ? e : "dlopen failed");
      return;
    }
    auto entry = reinterpret_cast<GrwarmBackendPluginFn>(dlsym(lib, "grwarm_backend_plugin"));
    if (!entry) {
      status_.reason = path + " is not a grwarm backend plugin (no grwarm_backend_plugin symbol)";
      return;
    }
    const GrwarmBackendPlugin* api = entry();
    if (!api || api->abi != GRWARM_PLUGIN_ABI) {
      status_.reason = path + " was built for plugin ABI " + std::to_string(api ? api->abi : -1) +
                       ", this addon needs " + std::to_string(GRWARM_PLUGIN_ABI) + " (rebuild it)";
      return;
    }
    char reason[1024] = {0};
    if (!api->probe(reason, sizeof reason)) {
      status_.reason = reason[0] ? reason : "the plugin says it cannot run here";
      return;
    }
    api_ = api;
    status_.available = true;
    status_.float64 = api->create_f64 != nullptr;
    status_.bf16 = api->bf16 != nullptr && api->bf16() != 0;
    status_.accelerator = accelerator_ || api->accelerator != 0;
    status_.detail = api->describe ? api->describe() : name_;
  }

  std::string name_, file_, env_;
  bool accelerator_;
  std::mutex mu_;
  bool probed_ = false;
  BackendStatus status_;
  const GrwarmBackendPlugin* api_ = nullptr;
};

}  // namespace

std::unique_ptr<BackendProvider> make_plugin_provider(const std::string& name,
                                                      const std::string& file,
                                                      const std::string& env,
                                                      bool accelerator) {
  return std::make_unique<PluginProvider>(name, file, env, accelerator);
}

}  // namespace grwarm::plugin
