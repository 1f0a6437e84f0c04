// Implementation of the test harness (see harness.h).
#include "harness.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace grwarm::test {

// ---- command line --------------------------------------------------------------------------

Args::Args(int argc, char** argv, const std::vector<std::string>& valued,
           const std::vector<std::string>& flags) {
  auto known = [](const std::vector<std::string>& list, const std::string& s) {
    return std::find(list.begin(), list.end(), s) != list.end();
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0) throw UsageError("unexpected argument \"" + a + "\"");
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {  // --name=value
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      if (!known(valued, name)) throw UsageError("unknown option --" + name);
    } else if (known(valued, name)) {
      if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
      value = argv[++i];
    } else if (known(flags, name)) {
      value = "1";
    } else {
      throw UsageError("unknown option --" + name);
    }
    values_[name] = value;
  }
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

int Args::get_int(const std::string& name, int fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  const long v = std::strtol(it->second.c_str(), &end, 10);
  if (!end || *end || it->second.empty())
    throw UsageError("--" + name + ": expected an integer, got \"" + it->second + "\"");
  return int(v);
}

bool Args::has(const std::string& name) const { return values_.count(name) != 0; }

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// ---- comparison ----------------------------------------------------------------------------

Compare compare(const std::vector<double>& got, const Expect& want, const Tolerance& tol) {
  Compare c;
  if (got.size() != want.ref.size() || want.scale.size() != want.ref.size()) {
    c.bad = std::max<size_t>(1, got.size());
    c.max_abs = c.max_rel = c.worst = std::numeric_limits<double>::infinity();
    return c;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const double ref = want.ref[i];
    const double err = std::fabs(got[i] - ref);
    const double allowed = tol.tol * want.scale[i];
    // NaN in `got` (or a NaN difference) fails; an exact match always passes (also inf == inf).
    const bool ok = got[i] == ref || err <= allowed;
    if (!ok) {
      if (c.bad == 0) c.first_bad = i;
      ++c.bad;
    }
    if (got[i] == ref) continue;
    const double e = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
    c.max_abs = std::max(c.max_abs, e);
    if (ref != 0) c.max_rel = std::max(c.max_rel, e / std::fabs(ref));
    c.worst = std::max(c.worst, allowed > 0 ? e / allowed : std::numeric_limits<double>::infinity());
  }
  return c;
}

// ---- report --------------------------------------------------------------------------------

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char ch : s) {
    switch (ch) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          o += buf;
        } else {
          o += ch;
        }
    }
  }
  return o + "\"";
}

std::string json_num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void Report::set_meta(const std::string& key, const std::string& json_value) {
  for (auto& kv : meta_)
    if (kv.first == key) {
      kv.second = json_value;
      return;
    }
  meta_.emplace_back(key, json_value);
}

void Report::print_row(const CaseResult& r) {
  if (!header_printed_) {
    std::printf("%-4s %-7s %-22s %-12s %-40s %10s %10s %10s %7s\n", "", "prec", "op", "output",
                "shape", "max_abs", "max_rel", "tol", "worst");
    header_printed_ = true;
  }
  const char* status = r.skipped ? "SKIP" : r.pass ? "ok" : "FAIL";
  if (r.skipped) {
    std::printf("%-4s %-7s %-22s %s\n", status, r.precision.c_str(), r.op.c_str(), r.note.c_str());
  } else {
    std::printf("%-4s %-7s %-22s %-12s %-40s %10.3g %10.3g %10.3g %7.3f%s%s%s\n", status,
                r.precision.c_str(), r.op.c_str(), r.output.c_str(), r.shape.c_str(), r.max_abs,
                r.max_rel, r.tol, r.worst, r.deterministic ? "" : "  NOT DETERMINISTIC",
                r.note.empty() ? "" : "  ", r.note.c_str());
  }
  std::fflush(stdout);
}

void Report::add(CaseResult r) {
  if (r.ops.empty()) r.ops.push_back(r.op);
  print_row(r);
  rows_.push_back(std::move(r));
}

void Report::add_compare(CaseResult r, const Compare& c, const Tolerance& t) {
  r.max_abs = c.max_abs;
  r.max_rel = c.max_rel;
  r.worst = c.worst;
  r.tol = t.tol;
  r.basis = t.basis;
  r.pass = c.ok() && r.deterministic;
  if (!r.deterministic) r.note = r.note.empty() ? "two runs gave different bits" : r.note + "; two runs gave different bits";
  if (!c.ok()) {
    std::ostringstream s;
    s << c.bad << " element(s) out of tolerance, first at index " << c.first_bad;
    r.note = r.note.empty() ? s.str() : r.note + "; " + s.str();
  }
  add(std::move(r));
}

void Report::skip(const std::string& op, const std::string& precision, const std::string& why) {
  CaseResult r;
  r.op = op;
  r.precision = precision;
  r.skipped = true;
  r.note = why;
  add(std::move(r));
}

int Report::passed() const {
  return int(std::count_if(rows_.begin(), rows_.end(), [](const CaseResult& r) { return !r.skipped && r.pass; }));
}
int Report::failed() const {
  return int(std::count_if(rows_.begin(), rows_.end(), [](const CaseResult& r) { return !r.skipped && !r.pass; }));
}
int Report::skipped() const {
  return int(std::count_if(rows_.begin(), rows_.end(), [](const CaseResult& r) { return r.skipped; }));
}

bool Report::write_json(const std::string& path) const {
  std::ostringstream o;
  o << "{\n  \"tool\": " << json_str(tool_);
  for (const auto& kv : meta_) o << ",\n  " << json_str(kv.first) << ": " << kv.second;
  o << ",\n  \"passed\": " << passed() << ", \"failed\": " << failed()
    << ", \"skipped\": " << skipped() << ",\n  \"cases\": [";
  for (size_t i = 0; i < rows_.size(); ++i) {
    const CaseResult& r = rows_[i];
    o << (i ? ",\n    {" : "\n    {") << "\"op\": " << json_str(r.op) << ", \"ops\": [";
    for (size_t k = 0; k < r.ops.size(); ++k) o << (k ? ", " : "") << json_str(r.ops[k]);
    o << "], \"precision\": " << json_str(r.precision) << ", \"shape\": " << json_str(r.shape)
      << ", \"output\": " << json_str(r.output) << ", \"max_abs_err\": " << json_num(r.max_abs)
      << ", \"max_rel_err\": " << json_num(r.max_rel) << ", \"tol\": " << json_num(r.tol)
      << ", \"worst\": " << json_num(r.worst) << ", \"tol_basis\": " << json_str(r.basis)
      << ", \"deterministic\": " << (r.deterministic ? "true" : "false")
      << ", \"pass\": " << (r.pass && !r.skipped ? "true" : "false")
      << ", \"skipped\": " << (r.skipped ? "true" : "false") << ", \"note\": " << json_str(r.note)
      << "}";
  }
  o << "\n  ]\n}\n";
  std::ofstream f(path);
  f << o.str();
  return bool(f);
}

void Report::print_summary() const {
  std::printf("%s: %d passed, %d failed, %d skipped\n", tool_.c_str(), passed(), failed(),
              skipped());
  std::fflush(stdout);
}

// ---- backends ------------------------------------------------------------------------------

BackendProvider* open_backend(const std::string& name, BackendStatus* status_out) {
  register_builtin_backends();
  BackendProvider* p = find_backend(name);
  if (!p) {
    std::string known;
    for (const BackendStatus& s : backend_statuses()) known += (known.empty() ? "" : ", ") + s.name;
    if (status_out) status_out->reason = "no backend called \"" + name + "\" (this build has: " + known + ")";
    std::printf("%s backend unavailable: no such backend (this build has: %s)\n", name.c_str(),
                known.c_str());
    return nullptr;
  }
  BackendStatus st = p->status();
  if (status_out) *status_out = st;
  if (!st.available) {
    std::printf("%s backend unavailable: %s\n", name.c_str(), st.reason.c_str());
    return nullptr;
  }
  return p;
}

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace grwarm::test
