# The MPI communicator plugin, libgrwarm_mpi.so, opened by the addon at run time (dlopen) for
# data-parallel runs (--distributed).
#
# Included by the top-level CMakeLists.txt.
#   -DGRWARM_MPI=AUTO|ON|OFF        AUTO (default): build it when CMake finds MPI (Debian:
#                                   apt-get install openmpi-bin libopenmpi-dev)
# Sets GRWARM_HAVE_MPI_PLUGIN (ON/OFF) in the including scope.
#
# The addon never links MPI, so it loads and trains on machines without it; only the plugin
# depends on libmpi. The plugin links nothing of grwarm (it implements core/communicator.h, a
# header-only interface) and exports its one entry point.
include_guard(GLOBAL)

if(NOT DEFINED GRWARM_MPI)
  set(GRWARM_MPI "AUTO" CACHE STRING "Build the MPI communicator plugin: AUTO, ON or OFF")
endif()
set(GRWARM_HAVE_MPI_PLUGIN OFF)

string(TOUPPER "${GRWARM_MPI}" _gw_mpi_mode)
if(NOT _gw_mpi_mode MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "GRWARM_MPI must be AUTO, ON or OFF (got \"${GRWARM_MPI}\")")
endif()

if(NOT _gw_mpi_mode STREQUAL "OFF")
  # pkg-config first (Open MPI's ompi-c, MPICH's mpich): no test compiles, no compiler
  # wrappers; FindMPI otherwise.
  set(_gw_mpi_target "")
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_search_module(GW_MPI QUIET IMPORTED_TARGET ompi-c mpich mpi-c)
    if(GW_MPI_FOUND)
      set(_gw_mpi_target PkgConfig::GW_MPI)
      set(_gw_mpi_what "${GW_MPI_MODULE_NAME} ${GW_MPI_VERSION}")
    endif()
  endif()
  if(NOT _gw_mpi_target)
    find_package(MPI COMPONENTS CXX QUIET)
    if(MPI_CXX_FOUND)
      set(_gw_mpi_target MPI::MPI_CXX)
      set(_gw_mpi_what "MPI ${MPI_CXX_VERSION}")
    endif()
  endif()
  if(NOT _gw_mpi_target)
    if(_gw_mpi_mode STREQUAL "ON")
      message(FATAL_ERROR "GRWARM_MPI=ON but no MPI was found (Debian: apt-get install openmpi-bin libopenmpi-dev)")
    endif()
    message(STATUS "grwarm: MPI not found; the MPI plugin is not built (no --distributed training)")
  else()
    get_filename_component(_gw_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
    set(_gw_mpi_dir "${_gw_root}/native/src/mpi")
    add_library(grwarm_mpi SHARED "${_gw_mpi_dir}/mpi_communicator.cpp")
    target_include_directories(grwarm_mpi PRIVATE "${_gw_root}/native/include" "${_gw_root}/native/src")
    set_target_properties(grwarm_mpi PROPERTIES
      CXX_STANDARD 17
      CXX_STANDARD_REQUIRED ON
      CXX_VISIBILITY_PRESET hidden
      VISIBILITY_INLINES_HIDDEN ON
      POSITION_INDEPENDENT_CODE ON
      LINK_DEPENDS "${_gw_mpi_dir}/exports.map")
    if(DEFINED GRWARM_OUTPUT_DIR)
      set_target_properties(grwarm_mpi PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${GRWARM_OUTPUT_DIR}")
    else()
      set_target_properties(grwarm_mpi PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}")
    endif()
    target_compile_options(grwarm_mpi PRIVATE -O2 -Wall -Wextra -Wno-unused-parameter)
    # The C API only: no MPI C++ bindings in the headers.
    target_compile_definitions(grwarm_mpi PRIVATE OMPI_SKIP_MPICXX=1 MPICH_SKIP_MPICXX=1)
    find_package(Threads REQUIRED)
    target_link_libraries(grwarm_mpi PRIVATE ${_gw_mpi_target} ${CMAKE_DL_LIBS} Threads::Threads)
    target_link_options(grwarm_mpi PRIVATE
      "LINKER:--version-script=${_gw_mpi_dir}/exports.map"
      "LINKER:--no-undefined")
    set(GRWARM_HAVE_MPI_PLUGIN ON)
    message(STATUS "grwarm: MPI plugin libgrwarm_mpi.so (${_gw_mpi_what})")
  endif()
endif()
unset(_gw_mpi_mode)
unset(_gw_mpi_target)
