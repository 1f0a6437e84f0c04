// Fused multi-head self-attention kernels for the CPU backend (see attention.cpp).
#pragma once
#include "isa.h"  // GRWARM_ISA_NS: this file is compiled once per ISA variant
#include "../core/backend.h"

namespace grwarm::cpu::GRWARM_ISA_NS {

template <class T>
void attention_forward(T* out, T* probs, const T* qkv, const AttnShape& s, const DropoutSpec& drop);

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* probs, const AttnShape& s,
                        const DropoutSpec& drop);

}  // namespace grwarm::cpu::GRWARM_ISA_NS
