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

static float smoothing_arg(const Napi::Value& v) {
  if (v.IsUndefined()) return 0.0f;
  double s = number_arg(v, "labelSmoothing");
  if (!(s >= 0 && s < 1)) range_error(v.Env(), "labelSmoothing: expected a number in [0, 1), got " + describe(v));
  return float(s);
}

// forwardBackward(images, labels, seed, train, labelSmoothing) -> Promise<{loss, correct, count}>
Napi::Value ModelWrap::forward_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensure_idle(env, "forwardBackward");
  Batch b = batch_args(info, true);
  const uint64_t seed = info.Length() > 2 && !info[2].IsUndefined() ? seed_arg(info[2], "seed") : 0;
  const bool train = info.Length() > 3 && !info[3].IsUndefined() ? info[3].ToBoolean().Value() : true;
  const float smoothing = smoothing_arg(info.Length() > 4 ? info[4] : env.Undefined());
  auto model = model_;
  auto result = std::make_shared<PassResult>();
  const float* images = b.images.Data();
  const int32_t* labels = b.labels.Data();
  const int n = b.n;
  busy_->store(true);
  auto busy = busy_;
  return PromiseWorker::run(
      env, [=] { *result = model->forward_backward(images, labels, n, seed, train, smoothing); },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("loss", result->loss);
        o.Set("correct", result->correct);
        o.Set("count", result->count);
        return o;
      },
      {b.images, b.labels}, [busy] { busy->store(false); });
}

// evaluate(images, labels | null, wantLogits, labelSmoothing) -> Promise<{loss?, correct?, count, logits?}>
Napi::Value ModelWrap::evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensure_idle(env, "evaluate");
  Batch b = batch_args(info, false);
  const bool want_logits = info.Length() > 2 && info[2].ToBoolean().Value();
  const float smoothing = smoothing_arg(info.Length() > 3 ? info[3] : env.Undefined());
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
  busy_->store(true);
  auto busy = busy_;
  return PromiseWorker::run(
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
      keep, [busy] { busy->store(false); });
}

}  // namespace grwarm::binding
