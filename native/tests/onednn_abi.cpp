// Compile-time check of the oneDNN 2.x declarations in native/src/cpu/onednn.cpp against the
// installed header (built into grwarm_conformance only when dnnl_types.h is found).
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>

static_assert(DNNL_VERSION_MAJOR == 2, "onednn.cpp declares the oneDNN 2.x API");
static_assert(dnnl_success == 0 && dnnl_unimplemented == 3, "status codes");
static_assert(dnnl_bf16 == 2 && dnnl_f32 == 3, "data types");
static_assert(dnnl_cpu == 1, "engine kind");
static_assert(dnnl_stream_default_flags == 1, "stream flags");
static_assert(dnnl_query_impl_info_str == 8, "query");
static_assert(DNNL_ARG_SRC == 1 && DNNL_ARG_DST == 17 && DNNL_ARG_WEIGHTS == 33 && DNNL_ARG_BIAS == 41, "arguments");
static_assert(DNNL_MAX_NDIMS == 12, "dims");
static_assert(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) == 16384 && DNNL_ARG_SRC_1 == 2, "post-op arguments");
static_assert(dnnl_binary_add == 0x1fff0, "binary add");
static_assert(sizeof(dnnl_memory_desc_t) <= 2048 && alignof(dnnl_memory_desc_t) <= 16,
              "MemDesc block too small");
static_assert(sizeof(dnnl_matmul_desc_t) <= 8192 && alignof(dnnl_matmul_desc_t) <= 16,
              "MatmulDesc block too small");
static_assert(sizeof(dnnl_exec_arg_t) == sizeof(int) + sizeof(void*) + (sizeof(void*) - sizeof(int)),
              "exec arg layout");
