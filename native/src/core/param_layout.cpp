#include "param_layout.h"

namespace grwarm {

size_t ParamLayout::add(const std::string& name, std::vector<int> shape, InitKind init,
                        bool decay, float init_std) {
  TensorView t;
  t.name = name;
  t.shape = std::move(shape);
  t.size = 1;
  for (int s : t.shape) t.size *= size_t(s);
  t.offset = total;
  t.init = init;
  t.init_std = init_std;
  t.decay_in_timm = decay;
  total += t.size;
  tensors.push_back(std::move(t));
  return tensors.back().offset;
}

const TensorView* ParamLayout::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace grwarm
