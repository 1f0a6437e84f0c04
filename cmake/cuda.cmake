# The CUDA backend plugin, libgrwarm_cuda.so, loaded by the addon at run time (dlopen).
#
# Included by the top-level CMakeLists.txt after the grwarm_core target exists.
#   -DGRWARM_CUDA=AUTO|ON|OFF        AUTO (default): build it when nvcc is found
#   -DGRWARM_CUDA_ARCHS="80;90"      GPU architectures to compile for
# Sets GRWARM_HAVE_CUDA_PLUGIN (ON/OFF) in the including scope.
#
# The plugin is self-contained: it links neither grwarm_core nor cuBLAS (opened with dlopen at
# run time) and carries the CUDA runtime statically, so the .so runs wherever an NVIDIA driver
# is installed and only its one entry point is exported.
include_guard(GLOBAL)
include(CheckLanguage)

if(NOT DEFINED GRWARM_CUDA)
  set(GRWARM_CUDA "AUTO" CACHE STRING "Build the CUDA backend plugin: AUTO, ON or OFF")
endif()
set(GRWARM_CUDA_ARCHS "80;90" CACHE STRING "CUDA architectures of the CUDA plugin (sm_XX numbers)")
set(GRWARM_HAVE_CUDA_PLUGIN OFF)

set(_gw_cuda_mode "${GRWARM_CUDA}")
string(TOUPPER "${_gw_cuda_mode}" _gw_cuda_mode)
if(NOT _gw_cuda_mode MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "GRWARM_CUDA must be AUTO, ON or OFF (got \"${GRWARM_CUDA}\")")
endif()

if(NOT _gw_cuda_mode STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER)
    check_language(CUDA)
  endif()
  if(NOT CMAKE_CUDA_COMPILER)
    if(_gw_cuda_mode STREQUAL "ON")
      message(FATAL_ERROR "GRWARM_CUDA=ON but no CUDA compiler (nvcc) was found: install the CUDA "
                          "toolkit, put nvcc on PATH or set CMAKE_CUDA_COMPILER")
    endif()
    message(STATUS "grwarm: nvcc not found; the CUDA plugin is not built (CPU backend only)")
  else()
    set(_gw_build_cuda ON)
  endif()
endif()

if(_gw_build_cuda)
  # Architectures before enable_language, so CMake does not probe a default itself.
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "${GRWARM_CUDA_ARCHS}")
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  find_package(Threads REQUIRED)

  get_filename_component(_gw_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
  set(_gw_cuda_dir "${_gw_root}/native/src/cuda")
  file(GLOB _gw_cuda_sources CONFIGURE_DEPENDS "${_gw_cuda_dir}/*.cu" "${_gw_cuda_dir}/*.cpp")

  add_library(grwarm_cuda SHARED ${_gw_cuda_sources})
  target_include_directories(grwarm_cuda PRIVATE
    "${_gw_root}/native/include" "${_gw_root}/native/src")
  set_target_properties(grwarm_cuda PROPERTIES
    CXX_STANDARD 17
    CXX_STANDARD_REQUIRED ON
    CUDA_STANDARD 17
    CUDA_STANDARD_REQUIRED ON
    CUDA_ARCHITECTURES "${GRWARM_CUDA_ARCHS}"
    CUDA_RUNTIME_LIBRARY Static
    CXX_VISIBILITY_PRESET hidden
    CUDA_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON
    LINK_DEPENDS "${_gw_cuda_dir}/exports.map")
  if(DEFINED GRWARM_OUTPUT_DIR)
    set_target_properties(grwarm_cuda PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${GRWARM_OUTPUT_DIR}")
  else()
    set_target_properties(grwarm_cuda PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}")
  endif()

  # No --use_fast_math: results stay IEEE (correctly rounded division and sqrt, denormals kept).
  # -fmad=false for every kernel: no fused multiply-adds, so each formula rounds as written,
  # like the CPU's flat passes and the conformance references (-ffp-contract=off) and like the
  # CUDA emulation (cmake/cuda_emu.cmake), which therefore checks the rounding the GPU does.
  # The GR and optimizer passes need it to give the CPU's bits. (The kernels are memory-bound,
  # so the cost should be small; not yet measured on a GPU.)
  target_compile_options(grwarm_cuda PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-O2 -Wall -Wextra -Wno-unused-parameter>
    $<$<COMPILE_LANGUAGE:CUDA>:-O3 -fmad=false -Xcompiler=-Wall>)

  # The CUDA runtime linked statically (no libcudart.so needed at run time); cuBLAS is not
  # linked at all (dlopen). --no-undefined keeps the plugin self-contained: any stray reference
  # to a grwarm_core symbol fails the link instead of failing at dlopen.
  target_link_libraries(grwarm_cuda PRIVATE
    CUDA::cudart_static ${CMAKE_DL_LIBS} Threads::Threads rt)
  target_link_options(grwarm_cuda PRIVATE
    "LINKER:--version-script=${_gw_cuda_dir}/exports.map"
    "LINKER:--no-undefined"
    "LINKER:--exclude-libs,ALL")

  set(GRWARM_HAVE_CUDA_PLUGIN ON)
  message(STATUS "grwarm: CUDA plugin libgrwarm_cuda.so (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
                 "architectures ${GRWARM_CUDA_ARCHS})")
endif()
unset(_gw_build_cuda)
unset(_gw_cuda_mode)
