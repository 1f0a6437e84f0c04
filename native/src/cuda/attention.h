// Multi-head self-attention on the GPU, forward and backward (see attention.cu).
#pragma once
#include "../core/backend.h"
#include "context.h"

namespace grwarm::cuda {

// Same contract as Backend<T>::attention_fwd / attention_bwd and the CPU's attention.cpp:
// probs keeps softmax(q k^T / sqrt(hd)) before dropout; the dropout mask of probs element
// ((b * H + h) * Tn + i) * Tn + j is the one at that index; dqkv is overwritten.
template <class T>
void attention_forward(Context& ctx, T* out, T* probs, const T* qkv, const AttnShape& s,
                       const DropoutSpec& drop);
template <class T>
void attention_backward(Context& ctx, T* dqkv, const T* dout, const T* qkv, const T* probs,
                        const AttnShape& s, const DropoutSpec& drop);

}  // namespace grwarm::cuda
