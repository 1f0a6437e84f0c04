// Stand-in for the CUDA toolkit header under emulation (native/emu, docs/cuda-emulation.md).
#pragma once
#include "gw_emu/cuda.h"
