// Whole-model passes over flat buffers for the CPU backend (see flat_ops.cpp).
#pragma once
#include "isa.h"  // GRWARM_ISA_NS: this file is compiled once per ISA variant
#include "../core/backend.h"

namespace grwarm::cpu::GRWARM_ISA_NS {

template <class T>
double flat_sum_squares(const T* x, size_t n);
template <class T>
void flat_gr_perturb(T* theta, T* saved, const T* g1, double scale, size_t n);
template <class T>
void flat_gr_combine(T* g, const T* g1, double alpha, size_t n);
template <class T>
void flat_optim_update(T* theta, const T* g, T* s1, T* s2, T* s3, size_t n, const OptimStep& step,
                       bool decay);

}  // namespace grwarm::cpu::GRWARM_ISA_NS
