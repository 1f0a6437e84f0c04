// The C entry point of a communicator plugin (a shared library the addon opens with dlopen):
// libgrwarm_mpi.so today. Like the backend plugins (core/plugin_abi.h) it is built from the
// same headers and compiler as the addon and hands out C++ objects (core/communicator.h), and
// it is only opened when a run asks for it (--distributed), so the addon loads and runs on
// machines without MPI.
#pragma once
#include <cstddef>

#include "core/communicator.h"

// Bumped whenever Communicator or this struct changes; the loader refuses other versions.
#define GRWARM_COMM_PLUGIN_ABI 1

extern "C" {

struct GrwarmCommPlugin {
  int abi;           // GRWARM_COMM_PLUGIN_ABI of the headers the plugin was built with
  const char* name;  // "mpi"
  // Joins the job this process was launched in (MPI_Init_thread on first use) and returns its
  // world communicator; nullptr with the reason in `error` on failure. Collectives that wait
  // longer than timeout_s seconds for the other ranks end this process with a message saying
  // so (0 = wait forever).
  grwarm::Communicator* (*create)(double timeout_s, char* error, size_t error_size);
  // Leaves the job cleanly (MPI_Finalize); later collectives fail. Idempotent.
  void (*finalize)();
  // Ends every rank of the job at once (MPI_Abort) with `code`.
  void (*abort)(int code);
};

const GrwarmCommPlugin* grwarm_comm_plugin();
typedef const GrwarmCommPlugin* (*GrwarmCommPluginFn)();
}
