// The seam between the model and a collective-communication engine (data-parallel training).
//
// A Communicator connects the N processes ("ranks") of one data-parallel job. The model calls
// it from its step (flat_model_step.cpp) to average gradients over the global batch; the training
// loop calls it for start-up checks (same config everywhere), replica checks (same weights
// everywhere) and agreement (stop at the same step). The interface is deliberately small, the
// handful of collectives data parallelism needs, so that other engines slot in:
//
//  - MPI (native/src/mpi/, libgrwarm_mpi.so): the one implementation today. MPI takes HOST
//    pointers: on the CPU backend the model hands it its flat buffers directly; on a GPU
//    backend the model stages them through host memory (download, reduce, upload), see
//    FlatModel<T>::reduce_grads.
//  - NCCL (later, for CUDA): ncclAllReduce takes DEVICE pointers and a stream, so it would
//    report `device_buffers() == true` and the model would pass its backend memory straight
//    through (no staging). The weighted sum below maps onto ncclRedOpCreatePreMulSum.
//
// Every call is collective: all ranks must make the same calls in the same order with the
// same sizes, or the job deadlocks. Implementations bound how long a call may wait (a rank that
// died or hangs) and fail with a clear message instead of waiting forever.
//
// Errors: a failed call throws std::runtime_error naming the call and the reason.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace grwarm {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // One line: the engine, its version and the world ("Open MPI v4.1.4, 2 ranks on 1 host").
  virtual std::string describe() const = 0;
  // True when the buffers of allreduce_sum may be device memory (NCCL); false (MPI) when they
  // must be host memory.
  virtual bool device_buffers() const { return false; }

  // data[i] = sum over ranks r of weight_r * data_r[i], in place, over n elements. `weight` is
  // this rank's factor (its share of the global batch). Every rank receives the SAME bits
  // (the MPI implementation reduces each chunk in one place and then gathers it), so weights
  // updated from the result stay bit-identical across ranks.
  virtual void allreduce_sum(float* data, size_t n, double weight) = 0;
  virtual void allreduce_sum(double* data, size_t n, double weight) = 0;
  // A few host doubles (loss sums, counts, flags): plain sum, the same result on every rank.
  virtual void allreduce_scalars(double* host, size_t n) = 0;
  // host[0, bytes) of rank `root` copied to every rank.
  virtual void broadcast(void* host, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
};

}  // namespace grwarm
