#include "model_wrap.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "args.h"
#include "core/family.h"
#include "core/registry.h"
#include "distributed.h"
#include "native_call.h"

namespace grwarm::binding {

namespace {

ModelConfig config_from(const Napi::Object& o) {
  const std::string p = "config.";
  ModelConfig c;
  c.image_size = int_field(o, "imageSize", 32, 1, 4096, p);
  c.channels = int_field(o, "channels", 3, 1, 64, p);
  c.patch = int_field(o, "patchSize", 4, 1, 4096, p);
  c.num_classes = int_field(o, "numClasses", 10, 2, 1 << 20, p);
  c.width = int_field(o, "width", 192, 1, 1 << 16, p);
  c.depth = int_field(o, "depth", 12, 0, 1024, p);
  c.heads = int_field(o, "heads", 3, 1, 1 << 12, p);
  c.mlp_hidden = int_field(o, "mlpHidden", 4 * c.width, 1, 1 << 18, p);
  Napi::Value d = o.Get("dropout");
  if (!d.IsUndefined()) c.dropout = float(number_arg(d, p + "dropout"));
  Napi::Value g = o.Get("gelu");
  if (!g.IsUndefined()) {
    std::string s = g.IsString() ? g.As<Napi::String>().Utf8Value() : "";
    if (s == "tanh")
      c.gelu = GeluKind::Tanh;
    else if (s == "erf")
      c.gelu = GeluKind::Erf;
    else
      range_error(o.Env(), p + "gelu: expected \"tanh\" or \"erf\", got " + describe(g));
  }
  // The model family and its own fields (family.h): every other number or array of numbers is
  // handed to the family, which names what it does not know.
  Napi::Value fam = o.Get("family");
  if (!fam.IsUndefined()) {
    if (!fam.IsString()) type_error(o.Env(), p + "family: expected a string, got " + describe(fam));
    c.family = fam.As<Napi::String>().Utf8Value();
  }
  static const char* const kCommon[] = {"imageSize", "channels", "patchSize", "numClasses", "width",
                                        "depth", "heads", "mlpHidden", "dropout", "gelu", "family"};
  ConfigFields extra;
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    if (std::find(std::begin(kCommon), std::end(kCommon), k) != std::end(kCommon)) continue;
    Napi::Value v = o.Get(k);
    if (v.IsUndefined()) continue;
    std::vector<double>& out = extra[k];
    if (v.IsArray()) {
      Napi::Array a = v.As<Napi::Array>();
      for (uint32_t j = 0; j < a.Length(); ++j) out.push_back(number_arg(a.Get(j), p + k));
    } else {
      out.push_back(number_arg(v, p + k));
    }
  }
  try {
    const Family& family = find_family(c.family);
    family.apply(c, extra);
    family.validate(c);
  } catch (const std::invalid_argument& e) {
    range_error(o.Env(), e.what());
  }
  return c;
}

Napi::Object pass_object(Napi::Env env, const PassResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", r.loss);
  o.Set("correct", r.correct);
  o.Set("count", r.count);
  return o;
}

double finite_field(const Napi::Object& o, const char* key, double def, double lo, double hi,
                    const std::string& prefix) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  double d = number_arg(v, prefix + key);
  if (!std::isfinite(d) || d < lo || d > hi)
    range_error(o.Env(), prefix + key + ": expected a finite number in [" + describe(Napi::Number::New(o.Env(), lo)) +
                             ", " + describe(Napi::Number::New(o.Env(), hi)) + "], got " + describe(v));
  return d;
}

}  // namespace

// paramCount(config) -> the number of parameters of the model `config` describes, from its
// family's layout alone (nothing is allocated: `info` lists every preset's size this way).
Napi::Value param_count(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    type_error(env, "paramCount(config): expected a model config object, got " +
                        (info.Length() < 1 ? std::string("nothing") : describe(info[0])));
  const ModelConfig c = config_from(info[0].As<Napi::Object>());
  return Napi::Number::New(env, double(find_family(c.family).layout(c).total));
}

struct ModelWrap::Batch {
  std::vector<float> images;
  std::vector<int32_t> labels;  // empty when not given
  int n = 0;
};

Napi::Function ModelWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {
                         InstanceMethod("layout", &ModelWrap::layout),
                         InstanceMethod("device", &ModelWrap::device),
                         InstanceMethod("readBuffer", &ModelWrap::read_buffer),
                         InstanceMethod("writeBuffer", &ModelWrap::write_buffer),
                         InstanceMethod("generation", &ModelWrap::generation),
                         InstanceMethod("busy", &ModelWrap::busy),
                         InstanceMethod("activationBytes", &ModelWrap::activation_bytes),
                         InstanceMethod("init", &ModelWrap::init),
                         InstanceMethod("paramNorm", &ModelWrap::param_norm),
                         InstanceMethod("gradNorm", &ModelWrap::grad_norm),
                         InstanceMethod("forwardBackward", &ModelWrap::forward_backward),
                         InstanceMethod("evaluate", &ModelWrap::evaluate),
                         InstanceMethod("configureOptimizer", &ModelWrap::configure_optimizer),
                         InstanceMethod("optimizerSlotNames", &ModelWrap::optimizer_slot_names),
                         InstanceMethod("optimizerSteps", &ModelWrap::optimizer_steps),
                         InstanceMethod("setOptimizerSteps", &ModelWrap::set_optimizer_steps),
                         InstanceMethod("step", &ModelWrap::step),
                         InstanceMethod("applyOptimizer", &ModelWrap::apply_optimizer),
                         InstanceMethod("setCommunicator", &ModelWrap::set_communicator),
                     });
}

// new NativeModel(config, { precision: 'float32' | 'float64' | 'bfloat16', seed, device: 'auto' | 'cpu' | 'cuda' })
ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    type_error(env, "config: expected an object, got " + describe(info[0]));
  ModelConfig cfg = config_from(info[0].As<Napi::Object>());
  Precision prec = Precision::F32;
  uint64_t seed = 0;
  std::string device = "auto";
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsObject()) type_error(env, "options: expected an object, got " + describe(info[1]));
    Napi::Object o = info[1].As<Napi::Object>();
    Napi::Value pv = o.Get("precision");
    if (!pv.IsUndefined()) {
      std::string s = pv.IsString() ? pv.As<Napi::String>().Utf8Value() : "";
      if (s == "float64")
        prec = Precision::F64;
      else if (s == "bfloat16" || s == "bf16")
        prec = Precision::BF16;
      else if (s != "float32")
        range_error(env, "options.precision: expected \"float32\", \"float64\" or \"bfloat16\", got " +
                             describe(pv));
    }
    Napi::Value sv = o.Get("seed");
    if (!sv.IsUndefined()) seed = seed_arg(sv, "options.seed");
    Napi::Value dv = o.Get("device");
    if (!dv.IsUndefined()) {
      if (!dv.IsString()) type_error(env, "options.device: expected \"auto\", \"cpu\" or \"cuda\", got " + describe(dv));
      device = dv.As<Napi::String>().Utf8Value();
    }
  }
  try {
    model_ = create_model(device, cfg, prec, seed);
  } catch (const std::bad_alloc&) {
    range_error(env, "model: out of memory allocating " + std::to_string(ParamLayout::build(cfg).total) +
                         " parameters");
  } catch (const std::invalid_argument& e) {
    range_error(env, std::string("options.") + e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

void ModelWrap::ensure_idle(Napi::Env env, const char* what) {
  if (busy_->load())
    throw Napi::Error::New(env, std::string(what) +
                                    ": the model is busy with another call; await it first");
}

Napi::Value ModelWrap::run_async(Napi::Env env, const char* name, std::function<void()> work,
                                 std::function<Napi::Value(Napi::Env)> done) {
  busy_->store(true);
  auto busy = busy_;
  try {
    return NativeCall::start(env, name, std::move(work), std::move(done), [busy] { busy->store(false); });
  } catch (...) {
    busy_->store(false);
    throw;
  }
}

Napi::Value ModelWrap::layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ParamLayout& L = model_->layout();
  Napi::Array arr = Napi::Array::New(env, L.tensors.size());
  for (size_t i = 0; i < L.tensors.size(); ++i) {
    const TensorView& t = L.tensors[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.name);
    Napi::Array shape = Napi::Array::New(env, t.shape.size());
    for (size_t k = 0; k < t.shape.size(); ++k) shape.Set(uint32_t(k), t.shape[k]);
    o.Set("shape", shape);
    o.Set("offset", double(t.offset));
    o.Set("size", double(t.size));
    o.Set("decayInTimm", t.decay_in_timm);
    arr.Set(uint32_t(i), o);
  }
  return arr;
}

// device() -> { name, detail }: where this model runs.
Napi::Value ModelWrap::device(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("name", model_->backend_name());
  o.Set("detail", model_->backend_detail());
  return o;
}

FlatBuffer ModelWrap::buffer_arg(const Napi::CallbackInfo& info, size_t* slot, const char* what) {
  Napi::Env env = info.Env();
  const std::string w = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  *slot = 0;
  if (w == "params") return FlatBuffer::Params;
  if (w == "grads") return FlatBuffer::Grads;
  if (w == "optimizer") {
    const auto names = model_->optimizer_slot_names();
    if (names.empty())
      throw Napi::Error::New(env, std::string(what) + ": no optimizer configured; call configureOptimizer first");
    const double d = number_arg(info[1], std::string(what) + ": slot");
    if (!(d >= 0 && d < double(names.size()) && d == std::floor(d))) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      range_error(env, std::string(what) + ": optimizer slot " + describe(info[1]) + " does not exist (this optimizer has " +
                           std::to_string(names.size()) + ": " + list + ")");
    }
    *slot = size_t(d);
    return FlatBuffer::OptimSlot;
  }
  range_error(env, std::string(what) + ": expected \"params\", \"grads\" or \"optimizer\", got " + describe(info[0]));
}

// A typed array of the model's master precision (Float32Array for float32 and bfloat16) and
// exactly layout().total elements.
void ModelWrap::check_array(Napi::Env env, const Napi::Value& v, const char* what, void** data) {
  const bool f64 = model_->precision() == Precision::F64;
  const napi_typedarray_type want = f64 ? napi_float64_array : napi_float32_array;
  const char* want_name = f64 ? "a Float64Array" : "a Float32Array";
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
    type_error(env, std::string(what) + ": expected " + want_name + ", got " + describe(v));
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  if (a.ElementLength() != model_->layout().total)
    range_error(env, std::string(what) + ": expected " + std::to_string(model_->layout().total) +
                         " elements (one per parameter), got " + std::to_string(a.ElementLength()));
  *data = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
}

// readBuffer(which, slot, out): copies a flat buffer of the model into `out` (synchronous).
Napi::Value ModelWrap::read_buffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensure_idle(env, "readBuffer");
  size_t slot = 0;
  const FlatBuffer which = buffer_arg(info, &slot, "readBuffer");
  void* dst = nullptr;
  check_array(env, info[2], "readBuffer: out", &dst);
  try {
    model_->read_buffer(which, slot, dst);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("readBuffer: ") + e.what());
  }
  return env.Undefined();
}

// writeBuffer(which, slot, src): replaces a flat buffer of the model with a copy of `src`.
Napi::Value ModelWrap::write_buffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensure_idle(env, "writeBuffer");
  size_t slot = 0;
  const FlatBuffer which = buffer_arg(info, &slot, "writeBuffer");
  void* src = nullptr;
  check_array(env, info[2], "writeBuffer: source", &src);
  try {
    model_->write_buffer(which, slot, src);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("writeBuffer: ") + e.what());
  }
  return env.Undefined();
}

// generation(which) -> number: changes whenever the model changes that buffer.
Napi::Value ModelWrap::generation(const Napi::CallbackInfo& info) {
  const std::string w = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  FlatBuffer which;
  if (w == "params") which = FlatBuffer::Params;
  else if (w == "grads") which = FlatBuffer::Grads;
  else if (w == "optimizer") which = FlatBuffer::OptimSlot;
  else range_error(info.Env(), "generation: expected \"params\", \"grads\" or \"optimizer\", got " + describe(info[0]));
  return Napi::Number::New(info.Env(), double(model_->generation(which)));
}

Napi::Value ModelWrap::busy(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), busy_->load());
}

// activationBytes(batch) -> bytes of activation memory a batch needs.
Napi::Value ModelWrap::activation_bytes(const Napi::CallbackInfo& info) {
  const int b = int_arg(info[0], "batch", 1, 1 << 20);
  return Napi::Number::New(info.Env(), double(model_->activation_bytes(b)));
}

Napi::Value ModelWrap::init(const Napi::CallbackInfo& info) {
  ensure_idle(info.Env(), "init");
  const uint64_t seed = seed_arg(info[0], "seed");
  try {
    model_->init(seed);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("init: ") + e.what());
  }
  return info.Env().Undefined();
}

Napi::Value ModelWrap::param_norm(const Napi::CallbackInfo& info) {
  ensure_idle(info.Env(), "paramNorm");
  try {
    return Napi::Number::New(info.Env(), model_->param_norm());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("paramNorm: ") + e.what());
  }
}

Napi::Value ModelWrap::grad_norm(const Napi::CallbackInfo& info) {
  ensure_idle(info.Env(), "gradNorm");
  try {
    return Napi::Number::New(info.Env(), model_->grad_norm());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("gradNorm: ") + e.what());
  }
}

// Copies first, validates the copy: labels changed by JS after this call can no longer
// reach the kernels, and a detached or collected array is never read.
std::shared_ptr<ModelWrap::Batch> ModelWrap::batch_args(const Napi::CallbackInfo& info,
                                                        bool labels_required) {
  Napi::Env env = info.Env();
  const ModelConfig& c = model_->config();
  auto b = std::make_shared<Batch>();
  Napi::Float32Array images =
      typed_array_arg<Napi::Float32Array>(info[0], napi_float32_array, "a Float32Array", "images");
  const size_t per = size_t(c.image_numel());
  const size_t len = images.ElementLength();
  const std::string shape = "[N, " + std::to_string(c.channels) + ", " + std::to_string(c.image_size) +
                            ", " + std::to_string(c.image_size) + "]";
  if (len == 0 || len % per != 0)
    range_error(env, "images: expected N*" + std::to_string(per) + " floats (shape " + shape +
                         ", N >= 1), got length " + std::to_string(len));
  if (len / per > size_t(1) << 20) range_error(env, "images: batch larger than 2^20 images");
  b->n = int(len / per);
  const bool have_labels = info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull();
  if (labels_required && !have_labels)
    type_error(env, "labels: expected an Int32Array of length " + std::to_string(b->n) + ", got " +
                        describe(info[1]));
  if (have_labels) {
    Napi::Int32Array labels =
        typed_array_arg<Napi::Int32Array>(info[1], napi_int32_array, "an Int32Array", "labels");
    if (labels.ElementLength() != size_t(b->n))
      range_error(env, "labels: expected length " + std::to_string(b->n) + " (one per image), got " +
                           std::to_string(labels.ElementLength()));
    b->labels.assign(labels.Data(), labels.Data() + b->n);
    for (int i = 0; i < b->n; ++i)
      if (b->labels[i] < 0 || b->labels[i] >= c.num_classes)
        range_error(env, "labels[" + std::to_string(i) + "]: expected a class in [0, " +
                             std::to_string(c.num_classes - 1) + "], got " + std::to_string(b->labels[i]));
  }
  try {
    b->images.assign(images.Data(), images.Data() + len);
  } catch (const std::bad_alloc&) {
    range_error(env, "images: out of memory copying " + std::to_string(b->n) + " images");
  }
  return b;
}

static double smoothing_arg(const Napi::Value& v) {
  if (v.IsUndefined()) return 0.0f;
  double s = number_arg(v, "labelSmoothing");
  if (!(s >= 0 && s < 1)) range_error(v.Env(), "labelSmoothing: expected a number in [0, 1), got " + describe(v));
  return s;
}

// forwardBackward(images, labels, seed, train, labelSmoothing) -> Promise<{loss, correct, count}>
Napi::Value ModelWrap::forward_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensure_idle(env, "forwardBackward");
  auto b = batch_args(info, true);
  const uint64_t seed = info.Length() > 2 && !info[2].IsUndefined() ? seed_arg(info[2], "seed") : 0;
  const bool train = info.Length() > 3 && !info[3].IsUndefined() ? info[3].ToBoolean().Value() : true;
  const double smoothing = smoothing_arg(info.Length() > 4 ? info[4] : env.Undefined());
  auto model = model_;
  auto result = std::make_shared<PassResult>();
  return run_async(
      env, "grwarm.forwardBackward",
      [=] { *result = model->forward_backward(b->images.data(), b->labels.data(), b->n, seed, train, smoothing); },
      [=](Napi::Env e) -> Napi::Value { return pass_object(e, *result); });
}

// evaluate(images, labels | null, wantLogits, labelSmoothing) -> Promise<{loss?, correct?, count, logits?}>
Napi::Value ModelWrap::evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensure_idle(env, "evaluate");
  auto b = batch_args(info, false);
  const bool want_logits = info.Length() > 2 && info[2].ToBoolean().Value();
  const double smoothing = smoothing_arg(info.Length() > 3 ? info[3] : env.Undefined());
  auto model = model_;
  auto result = std::make_shared<PassResult>();
  // The logits land in native memory; the Float32Array is made on the JS thread at the end.
  auto logits = std::make_shared<std::vector<float>>(want_logits ? size_t(b->n) * model->config().num_classes : 0);
  const bool has_labels = !b->labels.empty();
  return run_async(
      env, "grwarm.evaluate",
      [=] {
        *result = model->evaluate(want_logits ? logits->data() : nullptr, b->images.data(),
                                  has_labels ? b->labels.data() : nullptr, b->n, smoothing);
      },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("count", result->count);
        if (has_labels) {
          o.Set("loss", result->loss);
          o.Set("correct", result->correct);
        }
        if (want_logits) {
          Napi::Float32Array a = Napi::Float32Array::New(e, logits->size());
          std::memcpy(a.Data(), logits->data(), logits->size() * sizeof(float));
          o.Set("logits", a);
        }
        return o;
      });
}

}  // namespace grwarm::binding

namespace grwarm::binding {

// configureOptimizer({ kind, beta1, beta2, eps, rho, momentum, centered, weightDecay, wdMask, clip })
Napi::Value ModelWrap::configure_optimizer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensure_idle(env, "configureOptimizer");
  if (!info[0].IsObject()) type_error(env, "optimizer: expected an object, got " + describe(info[0]));
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string p = "optimizer.";
  OptimConfig c;
  Napi::Value kind = o.Get("kind");
  const std::string k = kind.IsString() ? kind.As<Napi::String>().Utf8Value() : "";
  if (k == "adam")
    c.kind = OptimKind::Adam;
  else if (k == "rmsprop")
    c.kind = OptimKind::RMSProp;
  else if (k == "sgd")
    c.kind = OptimKind::SGD;
  else
    range_error(env, p + "kind: expected \"adam\", \"rmsprop\" or \"sgd\", got " + describe(kind));
  c.beta1 = finite_field(o, "beta1", 0.9, 0, 0.999999999, p);
  c.beta2 = finite_field(o, "beta2", 0.999, 0, 0.999999999, p);
  c.eps = finite_field(o, "eps", 1e-8, 0, 1, p);
  c.rho = finite_field(o, "rho", 0.9, 0, 0.999999999, p);
  c.momentum = finite_field(o, "momentum", c.kind == OptimKind::SGD ? 0.9 : 0.0, 0, 0.999999999, p);
  c.centered = o.Get("centered").ToBoolean().Value();
  c.weight_decay = finite_field(o, "weightDecay", 0, 0, 1e6, p);
  c.clip = finite_field(o, "clip", 0, 0, 1e30, p);
  Napi::Value mask = o.Get("wdMask");
  if (!mask.IsUndefined()) {
    const std::string m = mask.IsString() ? mask.As<Napi::String>().Utf8Value() : "";
    if (m == "timm")
      c.timm_mask = true;
    else if (m != "all")
      range_error(env, p + "wdMask: expected \"all\" or \"timm\", got " + describe(mask));
  }
  try {
    model_->configure_optimizer(c);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("configureOptimizer: ") + e.what());
  }
  return env.Undefined();
}

// optimizerSlotNames() -> PyTorch names of the state slots (read them with readBuffer).
Napi::Value ModelWrap::optimizer_slot_names(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto names = model_->optimizer_slot_names();
  Napi::Array arr = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) arr.Set(uint32_t(i), names[i]);
  return arr;
}

Napi::Value ModelWrap::optimizer_steps(const Napi::CallbackInfo& info) {
  ensure_idle(info.Env(), "optimizerSteps");
  return Napi::Number::New(info.Env(), double(model_->optimizer_steps()));
}

Napi::Value ModelWrap::set_optimizer_steps(const Napi::CallbackInfo& info) {
  ensure_idle(info.Env(), "setOptimizerSteps");
  model_->set_optimizer_steps(seed_arg(info[0], "steps"));
  return info.Env().Undefined();
}

static void require_optimizer(Napi::Env env, const Model& m, const char* what) {
  if (!m.has_optimizer())
    throw Napi::Error::New(env, std::string(what) + ": no optimizer configured; call configureOptimizer first");
}

static Napi::Object apply_object(Napi::Env env, const ApplyResult& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("gradNorm", a.g_norm);
  o.Set("gradNormClipped", a.g_norm_clipped);
  o.Set("applied", a.applied);
  return o;
}

// step(images, labels, { seed, train, labelSmoothing, lr, lambda, r }) -> Promise<StepResult>
Napi::Value ModelWrap::step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensure_idle(env, "step");
  require_optimizer(env, *model_, "step");
  auto b = batch_args(info, true);
  if (info.Length() < 3 || !info[2].IsObject())
    type_error(env, "options: expected an object { lr, lambda, r, seed, ... }, got " +
                        describe(info.Length() < 3 ? env.Undefined() : info[2]));
  Napi::Object o = info[2].As<Napi::Object>();
  StepOptions s;
  if (o.Get("lr").IsUndefined()) type_error(env, "options.lr: expected a number, got undefined");
  s.lr = finite_field(o, "lr", 0, 0, 1e6, "options.");
  s.lambda = finite_field(o, "lambda", 0, 0, 1e6, "options.");
  s.r = finite_field(o, "r", 0, 0, 1e6, "options.");
  if (s.lambda > 0 && s.r == 0)
    range_error(env, "options.r: got 0 with lambda = " + describe(o.Get("lambda")) +
                         " > 0; GR needs r > 0 (alpha = lambda / r), or set lambda to 0 for the base step");
  Napi::Value seed = o.Get("seed");
  s.seed = seed.IsUndefined() ? 0 : seed_arg(seed, "options.seed");
  Napi::Value train = o.Get("train");
  s.train = train.IsUndefined() ? true : train.ToBoolean().Value();
  s.smoothing = (finite_field(o, "labelSmoothing", 0, 0, 0.999999, "options."));
  Napi::Value pert = o.Get("perturbation");
  if (!pert.IsUndefined()) {
    const std::string m = pert.IsString() ? pert.As<Napi::String>().Utf8Value() : "";
    if (m == "local")
      s.local_perturbation = true;
    else if (m != "global")
      range_error(env, "options.perturbation: expected \"global\" or \"local\", got " + describe(pert));
  }
  Napi::Value shards = o.Get("shards");
  if (!shards.IsUndefined()) s.shards = int_arg(shards, "options.shards", 1, b->n);
  if (s.shards > 1 && !s.local_perturbation)
    range_error(env, "options.shards: got " + describe(shards) +
                         "; perturbation shards need options.perturbation \"local\"");
  auto model = model_;
  auto res = std::make_shared<StepResult>();
  return run_async(
      env, "grwarm.step", [=] { *res = model->step(b->images.data(), b->labels.data(), b->n, s); },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object r = Napi::Object::New(e);
        r.Set("first", pass_object(e, res->first));
        r.Set("second", res->second_pass ? Napi::Value(pass_object(e, res->second)) : e.Null());
        r.Set("secondPass", res->second_pass);
        r.Set("g1Norm", res->g1_norm);
        r.Set("gradNorm", res->update.g_norm);
        r.Set("gradNormClipped", res->update.g_norm_clipped);
        r.Set("applied", res->update.applied);
        Napi::Object t = Napi::Object::New(e);
        t.Set("firstPass", res->ms_first);
        t.Set("normPerturb", res->ms_perturb);
        t.Set("secondPass", res->ms_second);
        t.Set("combineRestore", res->ms_combine);
        t.Set("optimizer", res->ms_optim);
        r.Set("timings", t);
        r.Set("commMs", res->ms_comm);
        r.Set("commBytes", res->comm_bytes);
        return r;
      });
}

// applyOptimizer(lr) -> Promise<{ gradNorm, gradNormClipped, applied }>
Napi::Value ModelWrap::apply_optimizer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensure_idle(env, "applyOptimizer");
  require_optimizer(env, *model_, "applyOptimizer");
  const double lr = number_arg(info[0], "lr");
  if (!std::isfinite(lr) || lr < 0) range_error(env, "lr: expected a finite number >= 0, got " + describe(info[0]));
  auto model = model_;
  auto res = std::make_shared<ApplyResult>();
  return run_async(
      env, "grwarm.applyOptimizer", [=] { *res = model->apply_optimizer(lr); },
      [=](Napi::Env e) -> Napi::Value { return apply_object(e, *res); });
}

// setCommunicator(comm | null): data-parallel steps over comm's ranks, or a single process.
Napi::Value ModelWrap::set_communicator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensure_idle(env, "setCommunicator");
  if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined())
    model_->set_communicator(nullptr);
  else
    model_->set_communicator(CommWrap::from(env, info[0], "setCommunicator"));
  return env.Undefined();
}

}  // namespace grwarm::binding
