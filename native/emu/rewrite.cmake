# Rewrites one CUDA source (.cu or .cuh) into C++ for the CPU emulation (docs/cuda-emulation.md):
#   cmake -DIN=native/src/cuda/x.cu -DOUT=build/.../x.cu.cc -P native/emu/rewrite.cmake
# Two constructs of the CUDA language are not C++ and are rewritten; everything else compiles
# as written against native/emu/include/gw_emu/cuda.h:
#   kernel<<<grid, block[, shmem[, stream]]>>>(args)
#     -> ::gw_emu::launch("kernel", __FILE__, __LINE__, [](auto&&... a) { kernel(a...); },
#                         grid, block[, shmem[, stream]])(args)
#   __shared__ T name[dims];   ->   auto& name = *::gw_emu::shared<T[dims]>([] {});
# A `#line` directive keeps compiler messages and __FILE__ pointing at the original source.
if(NOT DEFINED IN OR NOT DEFINED OUT)
  message(FATAL_ERROR "usage: cmake -DIN=<file.cu> -DOUT=<file.cc> -P rewrite.cmake")
endif()
file(READ "${IN}" src)

# Kernel launches. The kernel may carry template arguments (one level: k<T, Term>).
string(REGEX REPLACE
  "([A-Za-z_][A-Za-z0-9_:]*(<[^<>;(){}]*>)?)[ \t\r\n]*<<<([^>]*)>>>[ \t\r\n]*\\("
  "::gw_emu::launch(\"\\1\", __FILE__, __LINE__, [](auto&&... gw_a) { \\1(gw_a...); }, \\3)("
  src "${src}")
if(src MATCHES "<<<|>>>")
  message(FATAL_ERROR "${IN}: a kernel launch the emulation's rewrite does not understand "
                      "(expected kernel<<<config>>>(args) or kernel<T, ...><<<config>>>(args))")
endif()

# Static shared memory: per-block storage of the emulator.
if(src MATCHES "extern[ \t]+__shared__")
  message(FATAL_ERROR "${IN}: dynamic (extern) __shared__ memory is not emulated yet")
endif()
string(REGEX MATCHALL "__shared__[ \t]+[^;]*" decls "${src}")
foreach(d IN LISTS decls)
  string(REGEX REPLACE "^__shared__[ \t]+" "" decl "${d}")
  string(STRIP "${decl}" decl)
  # `T a[n], b[m]`: several declarators share the type of the first. A comma that belongs to the
  # type (a template argument list) leaves the later parts not looking like declarators.
  string(REPLACE "," ";" parts "${decl}")
  list(LENGTH parts nparts)
  set(rest "")
  if(nparts GREATER 1)
    list(GET parts 0 first)
    list(SUBLIST parts 1 -1 rest)
    foreach(r IN LISTS rest)
      if(NOT r MATCHES "^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*(\\[.*\\])?[ \t]*$")
        set(rest "")
        set(first "${decl}")
        break()
      endif()
    endforeach()
  else()
    set(first "${decl}")
  endif()
  if(NOT first MATCHES "^(.*[^A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*)[ \t]*((\\[.*\\])?)$")
    message(FATAL_ERROR "${IN}: cannot rewrite the shared declaration \"${d}\"")
  endif()
  set(type "${CMAKE_MATCH_1}")
  string(STRIP "${type}" type)
  set(out "auto& ${CMAKE_MATCH_2} = *::gw_emu::shared<${type}${CMAKE_MATCH_3}>([] {})")
  foreach(r IN LISTS rest)
    string(STRIP "${r}" r)
    string(REGEX MATCH "^[A-Za-z_][A-Za-z0-9_]*" rname "${r}")
    string(REGEX REPLACE "^[A-Za-z_][A-Za-z0-9_]*[ \t]*" "" rdims "${r}")
    string(APPEND out "; auto& ${rname} = *::gw_emu::shared<${type}${rdims}>([] {})")
  endforeach()
  string(REPLACE "${d}" "${out}" src "${src}")
endforeach()

file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${src}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
