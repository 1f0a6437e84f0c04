#include "model_wrap.h"

#include <string>

#include "args.h"
#include "promise_worker.h"

namespace grwarm::binding {

namespace {

VitConfig config_from(const Napi::Object& o) {
  const std::string p = "config.";
  VitConfig c;
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
  try {
    c.validate();
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

struct ModelWrap::Batch {
  Napi::Float32Array images;
  Napi::Int32Array labels;  // empty when not given
  int n = 0;
};

Napi::Function ModelWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {
                         InstanceMethod("layout", &ModelWrap::layout),
                         InstanceMethod("params", &ModelWrap::params),
                         InstanceMethod("grads", &ModelWrap::grads),
                         InstanceMethod("init", &ModelWrap::init),
                         InstanceMethod("paramNorm", &ModelWrap::param_norm),
                         InstanceMethod("gradNorm", &ModelWrap::grad_norm),
                         InstanceMethod("forwardBackward", &ModelWrap::forward_backward),
                         InstanceMethod("evaluate", &ModelWrap::evaluate),
                         InstanceMethod("configureOptimizer", &ModelWrap::configure_optimizer),
                         InstanceMethod("optimizerSlots", &ModelWrap::optimizer_slots),
                         InstanceMethod("optimizerSteps", &ModelWrap::optimizer_steps),
                         InstanceMethod("setOptimizerSteps", &ModelWrap::set_optimizer_steps),
                         InstanceMethod("step", &ModelWrap::step),
                         InstanceMethod("applyOptimizer", &ModelWrap::apply_optimizer),
                     });
}

// new NativeModel(config, { precision: 'float32' | 'float64', seed })
ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    type_error(env, "config: expected an object, got " + describe(info[0]));
  VitConfig cfg = config_from(info[0].As<Napi::Object>());
  Precision prec = Precision::F32;
  uint64_t seed = 0;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsObject()) type_error(env, "options: expected an object, got " + describe(info[1]));
    Napi::Object o = info[1].As<Napi::Object>();
    Napi::Value pv = o.Get("precision");
    if (!pv.IsUndefined()) {
      std::string s = pv.IsString() ? pv.As<Napi::String>().Utf8Value() : "";
      if (s == "float64")
        prec = Precision::F64;
      else if (s != "float32")
        range_error(env, "options.precision: expected \"float32\" or \"float64\", got " + describe(pv));
    }
    Napi::Value sv = o.Get("seed");
    if (!sv.IsUndefined()) seed = seed_arg(sv, "options.seed");
  }
  try {
    model_ = make_cpu_model(cfg, prec, seed);
  } catch (const std::bad_alloc&) {
    range_error(env, "model: out of memory allocating " + std::to_string(ParamLayout::build(cfg).total) +
                         " parameters");
  }
}

void ModelWrap::ensure_idle(Napi::Env env, const char* what) {
  if (busy_->load())
    throw Napi::Error::New(env, std::string(what) +
                                    ": the model is busy with another call; await it first");
}

Napi::Value ModelWrap::run_async(Napi::Env env, std::function<void()> work,
                                 std::function<Napi::Value(Napi::Env)> done,
                                 std::vector<Napi::Object> keep) {
  busy_->store(true);
  auto busy = busy_;
  return PromiseWorker::run(env, std::move(work), std::move(done), std::move(keep),
                            [busy] { busy->store(false); });
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

// An ArrayBuffer over native memory. Its finaliser owns a reference to the model, so a
// view outliving the JS model object never dangles.
Napi::ArrayBuffer ModelWrap::external(Napi::Env env, void* data) {
  const size_t elem = model_->precision() == Precision::F64 ? 8 : 4;
  auto* hold = new std::shared_ptr<Model>(model_);
  return Napi::ArrayBuffer::New(
      env, data, model_->layout().total * elem,
      [](Napi::Env, void*, std::shared_ptr<Model>* h) { delete h; }, hold);
}

Napi::Value ModelWrap::params(const Napi::CallbackInfo& info) {
  if (params_ref_.IsEmpty()) params_ref_ = Napi::Persistent(external(info.Env(), model_->params()));
  return params_ref_.Value();
}

Napi::Value ModelWrap::grads(const Napi::CallbackInfo& info) {
  if (grads_ref_.IsEmpty()) grads_ref_ = Napi::Persistent(external(info.Env(), model_->grads()));
  return grads_ref_.Value();
}

Napi::Value ModelWrap::init(const Napi::CallbackInfo& info) {
  ensure_idle(info.Env(), "init");
  model_->init(seed_arg(info[0], "seed"));
  return info.Env().Undefined();
}

Napi::Value ModelWrap::param_norm(const Napi::CallbackInfo& info) {
  ensure_idle(info.Env(), "paramNorm");
  return Napi::Number::New(info.Env(), model_->param_norm());
}

Napi::Value ModelWrap::grad_norm(const Napi::CallbackInfo& info) {
  ensure_idle(info.Env(), "gradNorm");
  return Napi::Number::New(info.Env(), model_->grad_norm());
}

ModelWrap::Batch ModelWrap::batch_args(const Napi::CallbackInfo& info, bool labels_required) {
  Napi::Env env = info.Env();
  const VitConfig& c = model_->config();
  Batch b;
  b.images = typed_array_arg<Napi::Float32Array>(info[0], napi_float32_array, "a Float32Array", "images");
  const size_t per = size_t(c.image_numel());
  const size_t len = b.images.ElementLength();
  const std::string shape = "[N, " + std::to_string(c.channels) + ", " + std::to_string(c.image_size) +
                            ", " + std::to_string(c.image_size) + "]";
  if (len == 0 || len % per != 0)
    range_error(env, "images: expected N*" + std::to_string(per) + " floats (shape " + shape +
                         ", N >= 1), got length " + std::to_string(len));
  if (len / per > size_t(1) << 20) range_error(env, "images: batch larger than 2^20 images");
  b.n = int(len / per);
  const bool have_labels = info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull();
  if (labels_required && !have_labels)
    type_error(env, "labels: expected an Int32Array of length " + std::to_string(b.n) + ", got " +
                        describe(info[1]));
  if (have_labels) {
    b.labels = typed_array_arg<Napi::Int32Array>(info[1], napi_int32_array, "an Int32Array", "labels");
    if (b.labels.ElementLength() != size_t(b.n))
      range_error(env, "labels: expected length " + std::to_string(b.n) + " (one per image), got " +
                           std::to_string(b.labels.ElementLength()));
    const int32_t* l = b.labels.Data();
    for (int i = 0; i < b.n; ++i)
      if (l[i] < 0 || l[i] >= c.num_classes)
        range_error(env, "labels[" + std::to_string(i) + "]: expected a class in [0, " +
                             std::to_string(c.num_classes - 1) + "], got " + std::to_string(l[i]));
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
  Batch b = batch_args(info, true);
  const uint64_t seed = info.Length() > 2 && !info[2].IsUndefined() ? seed_arg(info[2], "seed") : 0;
  const bool train = info.Length() > 3 && !info[3].IsUndefined() ? info[3].ToBoolean().Value() : true;
  const double smoothing = smoothing_arg(info.Length() > 4 ? info[4] : env.Undefined());
  auto model = model_;
  auto result = std::make_shared<PassResult>();
  const float* images = b.images.Data();
  const int32_t* labels = b.labels.Data();
  const int n = b.n;
  return run_async(
      env, [=] { *result = model->forward_backward(images, labels, n, seed, train, smoothing); },
      [=](Napi::Env e) -> Napi::Value { return pass_object(e, *result); }, {b.images, b.labels});
}

// evaluate(images, labels | null, wantLogits, labelSmoothing) -> Promise<{loss?, correct?, count, logits?}>
Napi::Value ModelWrap::evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensure_idle(env, "evaluate");
  Batch b = batch_args(info, false);
  const bool want_logits = info.Length() > 2 && info[2].ToBoolean().Value();
  const double smoothing = smoothing_arg(info.Length() > 3 ? info[3] : env.Undefined());
  auto model = model_;
  auto result = std::make_shared<PassResult>();
  const int n = b.n;
  const size_t nlogits = want_logits ? size_t(n) * model->config().num_classes : 0;
  Napi::Float32Array logits = Napi::Float32Array::New(env, nlogits);
  float* logits_ptr = want_logits ? logits.Data() : nullptr;
  const float* images = b.images.Data();
  const bool has_labels = !b.labels.IsEmpty();
  const int32_t* labels = has_labels ? b.labels.Data() : nullptr;
  std::vector<Napi::Object> keep{b.images, logits};
  if (has_labels) keep.push_back(b.labels);
  auto logits_ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(static_cast<Napi::Object>(logits)));
  return run_async(
      env, [=] { *result = model->evaluate(logits_ptr, images, labels, n, smoothing); },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("count", result->count);
        if (has_labels) {
          o.Set("loss", result->loss);
          o.Set("correct", result->correct);
        }
        if (want_logits) o.Set("logits", logits_ref->Value());
        return o;
      },
      keep);
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
  model_->configure_optimizer(c);
  slot_refs_.clear();
  return env.Undefined();
}

// optimizerSlots() -> [{ name, buffer }] flat state buffers, same layout as the parameters.
Napi::Value ModelWrap::optimizer_slots(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto names = model_->optimizer_slot_names();
  if (slot_refs_.size() != names.size()) {
    slot_refs_.clear();
    for (size_t i = 0; i < names.size(); ++i)
      slot_refs_.push_back(Napi::Persistent(external(env, model_->optimizer_slot(i))));
  }
  Napi::Array arr = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", names[i]);
    o.Set("buffer", slot_refs_[i].Value());
    arr.Set(uint32_t(i), o);
  }
  return arr;
}

Napi::Value ModelWrap::optimizer_steps(const Napi::CallbackInfo& info) {
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
  Batch b = batch_args(info, true);
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
  auto model = model_;
  auto res = std::make_shared<StepResult>();
  const float* images = b.images.Data();
  const int32_t* labels = b.labels.Data();
  const int n = b.n;
  return run_async(
      env, [=] { *res = model->step(images, labels, n, s); },
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
        return r;
      },
      {b.images, b.labels});
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
      env, [=] { *res = model->apply_optimizer(lr); },
      [=](Napi::Env e) -> Napi::Value { return apply_object(e, *res); }, {});
}

}  // namespace grwarm::binding
