// The few cuBLAS types and entry points the plugin uses, declared here rather than taken from
// <cublas_v2.h>: cuBLAS is opened at run time with dlopen (cublas_loader.h), so the plugin
// builds on machines without it and loads whichever major version (13, 12, 11) is installed.
//
// Numeric values and signatures are those documented for the cuBLAS v2 API; they have been
// stable since CUDA 8. The names live in our own namespace so they can never clash with the
// real header.
#pragma once
#include <cuda_runtime_api.h>

namespace grwarm::cuda::blas {

struct Context;  // opaque: cublasContext
using Handle = Context*;

enum Status : int {
  kSuccess = 0,
  kNotInitialized = 1,
  kAllocFailed = 3,
  kInvalidValue = 7,
  kArchMismatch = 8,
  kMappingError = 11,
  kExecutionFailed = 13,
  kInternalError = 14,
  kNotSupported = 15,
  kLicenseError = 16,
};

enum Operation : int { kOpN = 0, kOpT = 1, kOpC = 2 };

// cublasMath_t. kDefaultMath: plain IEEE fp32 (no TF32 tensor-core rounding) since CUDA 11;
// kTf32TensorOpMath would let fp32 GEMMs round their inputs to 10-bit mantissas.
enum Math : int {
  kDefaultMath = 0,
  kTensorOpMath = 1,
  kPedanticMath = 2,
  kTf32TensorOpMath = 3,
};

// libraryPropertyType (library_types.h): for cublasGetProperty.
enum LibraryProperty : int { kMajorVersion = 0, kMinorVersion = 1, kPatchLevel = 2 };

// cudaDataType_t (library_types.h), cublasComputeType_t and cublasGemmAlgo_t: for cublasGemmEx.
enum DataType : int { kR32F = 0, kR16BF = 14 };
enum ComputeType : int { kCompute32F = 68 };  // float32 accumulation, no TF32 down-conversion
enum GemmAlgo : int { kGemmDefault = -1 };

// Signatures of the entry points, one typedef each (the symbol name is in the comment).
using CreateFn = Status (*)(Handle*);                       // cublasCreate_v2
using DestroyFn = Status (*)(Handle);                       // cublasDestroy_v2
using SetStreamFn = Status (*)(Handle, cudaStream_t);       // cublasSetStream_v2
using SetMathModeFn = Status (*)(Handle, Math);             // cublasSetMathMode
using GetVersionFn = Status (*)(Handle, int*);              // cublasGetVersion_v2
using GetPropertyFn = Status (*)(LibraryProperty, int*);    // cublasGetProperty

template <class T>  // cublasSgemm_v2 / cublasDgemm_v2
using GemmFn = Status (*)(Handle, Operation transa, Operation transb, int m, int n, int k,
                          const T* alpha, const T* A, int lda, const T* B, int ldb, const T* beta,
                          T* C, int ldc);

template <class T>  // cublasSgemmStridedBatched / cublasDgemmStridedBatched
using GemmStridedBatchedFn = Status (*)(Handle, Operation transa, Operation transb, int m, int n,
                                        int k, const T* alpha, const T* A, int lda,
                                        long long strideA, const T* B, int ldb, long long strideB,
                                        const T* beta, T* C, int ldc, long long strideC,
                                        int batchCount);

// cublasGemmEx (cuBLAS 11+): the bf16 GEMM, bf16 A and B, float32 C and accumulation.
using GemmExFn = Status (*)(Handle, Operation transa, Operation transb, int m, int n, int k,
                            const void* alpha, const void* A, DataType Atype, int lda,
                            const void* B, DataType Btype, int ldb, const void* beta, void* C,
                            DataType Ctype, int ldc, ComputeType compute, GemmAlgo algo);

// The name of a status code, for error messages.
inline const char* status_name(Status s) {
  switch (s) {
    case kSuccess: return "CUBLAS_STATUS_SUCCESS";
    case kNotInitialized: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case kAllocFailed: return "CUBLAS_STATUS_ALLOC_FAILED";
    case kInvalidValue: return "CUBLAS_STATUS_INVALID_VALUE";
    case kArchMismatch: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case kMappingError: return "CUBLAS_STATUS_MAPPING_ERROR";
    case kExecutionFailed: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case kInternalError: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case kNotSupported: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case kLicenseError: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

}  // namespace grwarm::cuda::blas
