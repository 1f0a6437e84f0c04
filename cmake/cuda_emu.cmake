# The CUDA plugin under CPU emulation (docs/cuda-emulation.md): every kernel of
# native/src/cuda/*.cu compiled by g++ and run on an emulation of the CUDA execution model.
#
#   -DGRWARM_CUDA_EMU=ON|OFF   build it when Boost.Context is found; default: GRWARM_TESTS (on in
#                              development builds, off in package installs, which never test)
#
# Targets (all in GRWARM_OUTPUT_DIR, used by tests only, never packaged):
#   libgrwarm_cudart_emu.so   the emulator and the stand-in CUDA runtime (native/emu/runtime.cpp)
#   libgrwarm_cuda_emu.so     the plugin: native/src/cuda/*.cu rewritten (native/emu/rewrite.cmake)
#                             and *.cpp as they are; select it with GRWARM_CUDA_PLUGIN=<path>
#   libgrwarm_cublas_emu.so   the stand-in cuBLAS; select it with GRWARM_CUBLAS=<path>
#   grwarm_emu_faults         planted faults the emulator must catch (native/emu/faults/)
# Sets GRWARM_HAVE_CUDA_EMU (ON/OFF).
include_guard(GLOBAL)

if(GRWARM_TESTS)
  set(_gw_emu_default ON)
else()
  set(_gw_emu_default OFF)
endif()
option(GRWARM_CUDA_EMU "Build the CUDA plugin under CPU emulation (needs Boost.Context)" ${_gw_emu_default})
set(GRWARM_HAVE_CUDA_EMU OFF)

if(GRWARM_CUDA_EMU)
  find_path(GRWARM_BOOST_CONTEXT_INCLUDE boost/context/fiber.hpp)
  find_library(GRWARM_BOOST_CONTEXT_LIB boost_context)
  if(NOT GRWARM_BOOST_CONTEXT_INCLUDE OR NOT GRWARM_BOOST_CONTEXT_LIB)
    message(STATUS "grwarm: Boost.Context not found (Debian: libboost-context-dev); "
                   "the CUDA emulation is not built")
  else()
    set(GRWARM_HAVE_CUDA_EMU ON)
  endif()
endif()

if(GRWARM_HAVE_CUDA_EMU)
  get_filename_component(_gw_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
  set(_gw_emu_dir "${_gw_root}/native/emu")
  set(_gw_emu_gen "${CMAKE_CURRENT_BINARY_DIR}/grwarm_cuda_emu_src")
  if(NOT DEFINED GRWARM_OUTPUT_DIR)
    set(GRWARM_OUTPUT_DIR "${CMAKE_BINARY_DIR}")
  endif()
  # Same rounding as the real build: nvcc compiles every kernel with -fmad=false
  # (cmake/cuda.cmake), g++ here with -ffp-contract=off; no -march, no fast math.
  set(_gw_emu_flags -O2 -ffp-contract=off -Wall -Wextra -Wno-unused-parameter)

  # The rewrite of a .cu/.cuh into C++ (same base name for headers, so #include finds them).
  function(_gw_emu_rewrite src out_var)
    get_filename_component(_name "${src}" NAME)
    if(_name MATCHES "\\.cu$")
      set(_out "${_gw_emu_gen}/${_name}.cc")
    else()
      set(_out "${_gw_emu_gen}/${_name}")
    endif()
    add_custom_command(OUTPUT "${_out}"
      COMMAND "${CMAKE_COMMAND}" "-DIN=${src}" "-DOUT=${_out}" -P "${_gw_emu_dir}/rewrite.cmake"
      DEPENDS "${src}" "${_gw_emu_dir}/rewrite.cmake"
      COMMENT "grwarm: CUDA emulation: rewriting ${_name}" VERBATIM)
    set(${out_var} "${_out}" PARENT_SCOPE)
  endfunction()

  function(_gw_emu_output target)
    set_target_properties(${target} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY "${GRWARM_OUTPUT_DIR}"
      RUNTIME_OUTPUT_DIRECTORY "${GRWARM_OUTPUT_DIR}"
      BUILD_RPATH "\$ORIGIN"
      CXX_VISIBILITY_PRESET hidden
      VISIBILITY_INLINES_HIDDEN ON)
    target_include_directories(${target} PRIVATE "${_gw_emu_dir}/include")
    target_compile_options(${target} PRIVATE ${_gw_emu_flags})
  endfunction()

  # The emulator and stand-in runtime. No _FORTIFY_SOURCE: siglongjmp leaves a fiber's stack.
  add_library(grwarm_cudart_emu SHARED "${_gw_emu_dir}/runtime.cpp")
  _gw_emu_output(grwarm_cudart_emu)
  target_include_directories(grwarm_cudart_emu PRIVATE "${GRWARM_BOOST_CONTEXT_INCLUDE}")
  target_compile_options(grwarm_cudart_emu PRIVATE -U_FORTIFY_SOURCE)
  target_link_libraries(grwarm_cudart_emu PRIVATE "${GRWARM_BOOST_CONTEXT_LIB}")

  add_library(grwarm_cublas_emu SHARED "${_gw_emu_dir}/cublas.cpp")
  _gw_emu_output(grwarm_cublas_emu)
  target_link_libraries(grwarm_cublas_emu PRIVATE grwarm_cudart_emu)

  # The plugin: every .cu (rewritten) and .cpp of native/src/cuda, whatever files exist.
  set(_gw_cuda_dir "${_gw_root}/native/src/cuda")
  file(GLOB _gw_emu_cu CONFIGURE_DEPENDS "${_gw_cuda_dir}/*.cu")
  file(GLOB _gw_emu_cuh CONFIGURE_DEPENDS "${_gw_cuda_dir}/*.cuh")
  file(GLOB _gw_emu_cpp CONFIGURE_DEPENDS "${_gw_cuda_dir}/*.cpp")
  set(_gw_emu_plugin_src ${_gw_emu_cpp})
  set(_gw_emu_headers "")
  foreach(_f IN LISTS _gw_emu_cuh)
    _gw_emu_rewrite("${_f}" _o)
    list(APPEND _gw_emu_headers "${_o}")
  endforeach()
  foreach(_f IN LISTS _gw_emu_cu)
    _gw_emu_rewrite("${_f}" _o)
    list(APPEND _gw_emu_plugin_src "${_o}")
  endforeach()
  add_custom_target(grwarm_cuda_emu_headers DEPENDS ${_gw_emu_headers})
  add_library(grwarm_cuda_emu SHARED ${_gw_emu_plugin_src})
  add_dependencies(grwarm_cuda_emu grwarm_cuda_emu_headers)
  _gw_emu_output(grwarm_cuda_emu)
  target_include_directories(grwarm_cuda_emu PRIVATE
    "${_gw_emu_gen}" "${_gw_cuda_dir}" "${_gw_root}/native/include" "${_gw_root}/native/src")
  target_link_libraries(grwarm_cuda_emu PRIVATE grwarm_cudart_emu ${CMAKE_DL_LIBS})
  target_link_options(grwarm_cuda_emu PRIVATE
    "LINKER:--version-script=${_gw_cuda_dir}/exports.map" "LINKER:--no-undefined")

  # Planted faults (test only): compiled exactly like the plugin's kernels.
  if(GRWARM_TESTS AND EXISTS "${_gw_emu_dir}/faults/faults_main.cpp")
    file(GLOB _gw_emu_fault_cu CONFIGURE_DEPENDS "${_gw_emu_dir}/faults/*.cu")
    set(_gw_emu_fault_src "${_gw_emu_dir}/faults/faults_main.cpp")
    foreach(_f IN LISTS _gw_emu_fault_cu)
      _gw_emu_rewrite("${_f}" _o)
      list(APPEND _gw_emu_fault_src "${_o}")
    endforeach()
    add_executable(grwarm_emu_faults ${_gw_emu_fault_src})
    add_dependencies(grwarm_emu_faults grwarm_cuda_emu_headers)
    _gw_emu_output(grwarm_emu_faults)
    target_include_directories(grwarm_emu_faults PRIVATE "${_gw_emu_dir}/faults"
      "${_gw_emu_gen}" "${_gw_cuda_dir}" "${_gw_root}/native/include" "${_gw_root}/native/src")
    target_link_libraries(grwarm_emu_faults PRIVATE grwarm_cudart_emu grwarm_cublas_emu)
  endif()

  message(STATUS "grwarm: CUDA plugin under CPU emulation (libgrwarm_cuda_emu.so, Boost.Context "
                 "${GRWARM_BOOST_CONTEXT_LIB})")
endif()
