// col_sum: bias gradients, out[c] (+)= sum_r X[r, c] (see column_reduce.cuh for the order).
#include "column_reduce.cuh"
#include "kernels.h"

namespace grwarm::cuda {

namespace {
template <class T>
struct ColumnOf {
  static constexpr int kOut = 1;
  const T* X;
  int cols;
  __device__ void operator()(int r, int c, T* v) const { v[0] = X[size_t(r) * cols + c]; }
};
}  // namespace

template <class T>
void launch_col_sum(cudaStream_t s, Workspace& ws, T* out, const T* X, int rows, int cols,
                    bool accumulate) {
  column_reduce(s, ws, out, static_cast<T*>(nullptr), rows, cols, accumulate, ColumnOf<T>{X, cols},
                "col_sum");
}

template void launch_col_sum<float>(cudaStream_t, Workspace&, float*, const float*, int, int, bool);
template void launch_col_sum<double>(cudaStream_t, Workspace&, double*, const double*, int, int,
                                     bool);

}  // namespace grwarm::cuda
