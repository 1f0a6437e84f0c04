# The native test and benchmark executables (GRWARM_TESTS=ON):
#   grwarm_conformance   every Backend<T> op against host references   (native/tests/conformance_main.cpp)
#   grwarm_parity        one backend's model against another's          (native/tests/parity_main.cpp)
#   grwarm_bench_native  step timings, GFLOP/s, GEMM rate (GPU machine)  (native/tests/bench_main.cpp)
#
# Included by the top-level CMakeLists.txt after grwarm_core, grwarm_cpu and grwarm_registry
# exist. The executables go to GRWARM_OUTPUT_DIR, next to the .node and libgrwarm_cuda.so: the
# plugin loader looks for the CUDA plugin beside the module it is linked into.
include_guard(GLOBAL)

if(NOT TARGET grwarm_registry)
  message(FATAL_ERROR "cmake/tests.cmake needs the grwarm_registry target: include it after the registry is defined")
endif()
if(NOT DEFINED GRWARM_OUTPUT_DIR)
  set(GRWARM_OUTPUT_DIR "${CMAKE_BINARY_DIR}")
endif()

get_filename_component(_gw_tests_dir "${CMAKE_CURRENT_LIST_DIR}/../native/tests" ABSOLUTE)

# Shared plumbing: flags, comparison, report, backend lookup.
add_library(grwarm_test_harness STATIC "${_gw_tests_dir}/harness.cpp")
target_include_directories(grwarm_test_harness PUBLIC "${_gw_tests_dir}")
target_link_libraries(grwarm_test_harness PUBLIC grwarm_registry)
# -ffp-contract=off: the references evaluate the shared formulas of include/grwarm/ on the host
# exactly as written (no fused multiply-adds), like the CPU flat passes (see ref_flat.h).
# No -march=native: the references need no speed.
target_compile_options(grwarm_test_harness PUBLIC -O2 -ffp-contract=off -Wall -Wextra -Wno-unused-parameter)

add_executable(grwarm_conformance
  "${_gw_tests_dir}/conformance_main.cpp"
  "${_gw_tests_dir}/cases_memory.cpp"
  "${_gw_tests_dir}/cases_dense.cpp"
  "${_gw_tests_dir}/cases_embed.cpp"
  "${_gw_tests_dir}/cases_layer.cpp"
  "${_gw_tests_dir}/cases_attention.cpp"
  "${_gw_tests_dir}/cases_head.cpp"
  "${_gw_tests_dir}/cases_window.cpp"
  "${_gw_tests_dir}/cases_cait.cpp"
  "${_gw_tests_dir}/cases_flat.cpp"
  "${_gw_tests_dir}/cases_bf16.cpp")
# The oneDNN declarations of native/src/cpu/onednn.cpp (oneDNN is opened with dlopen, no header
# needed to build) are checked against the real header when one is installed (libdnnl-dev).
find_path(GRWARM_DNNL_INCLUDE oneapi/dnnl/dnnl_types.h)
if(GRWARM_DNNL_INCLUDE)
  target_sources(grwarm_conformance PRIVATE "${_gw_tests_dir}/onednn_abi.cpp")
  target_include_directories(grwarm_conformance PRIVATE "${GRWARM_DNNL_INCLUDE}")
  message(STATUS "grwarm: checking the oneDNN declarations against ${GRWARM_DNNL_INCLUDE}")
endif()
add_executable(grwarm_parity "${_gw_tests_dir}/parity_main.cpp" "${_gw_tests_dir}/parity_checks.cpp")
add_executable(grwarm_bench_native "${_gw_tests_dir}/bench_main.cpp")

foreach(_gw_exe grwarm_conformance grwarm_parity grwarm_bench_native)
  target_link_libraries(${_gw_exe} PRIVATE grwarm_test_harness)
  set_target_properties(${_gw_exe} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${GRWARM_OUTPUT_DIR}")
  # Multi-config generators append the configuration name unless told otherwise.
  foreach(_gw_cfg ${CMAKE_CONFIGURATION_TYPES})
    string(TOUPPER "${_gw_cfg}" _gw_cfg)
    set_target_properties(${_gw_exe} PROPERTIES RUNTIME_OUTPUT_DIRECTORY_${_gw_cfg} "${GRWARM_OUTPUT_DIR}")
  endforeach()
endforeach()
unset(_gw_exe)
unset(_gw_cfg)
unset(_gw_tests_dir)
