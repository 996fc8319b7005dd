// The GPU runtime the CUDA backend is written against: NVIDIA's CUDA, or AMD's HIP when the
// backend is built with -DTERN_HIP=ON (hipcc compiles these same sources). Under HIP the
// CUDA runtime, stream and graph names used here map to their hip* twins, one line each.
// Debian ships no hipBLAS/rocBLAS, so HIP builds have no BLAS: BlasHandle is empty there
// and the prompt GEMMs take the backend's own kernel (ops_matmul.cu).
//
// Warps: the kernels reduce over groups of kWarpSize = 32 lanes (lane = threadIdx.x % 32,
// shuffles of offsets 16..1). NVIDIA warps are 32 lanes; AMD wavefronts are 64 (CDNA,
// e.g. gfx90a) or 32 (RDNA, e.g. gfx1030). warp_shfl_xor() passes width 32 under HIP, so a
// wave64 runs the reductions as two independent 32-lane halves and nothing assumes the
// hardware's width. Block sizes are multiples of 32 (asserted where they are chosen).
#pragma once

#ifdef TERN_HIP
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>
#else
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

#ifdef TERN_HIP
using cudaError_t = hipError_t;
using cudaStream_t = hipStream_t;
using cudaGraph_t = hipGraph_t;
using cudaGraphExec_t = hipGraphExec_t;
using cudaDeviceProp = hipDeviceProp_t;
#define cudaSuccess hipSuccess
#define cudaErrorMemoryAllocation hipErrorOutOfMemory
#define cudaGetLastError hipGetLastError
#define cudaGetErrorString hipGetErrorString
#define cudaGetErrorName hipGetErrorName
#define cudaGetDeviceCount hipGetDeviceCount
#define cudaGetDeviceProperties hipGetDeviceProperties
#define cudaDeviceGetAttribute hipDeviceGetAttribute
#define cudaDevAttrMemoryClockRate hipDeviceAttributeMemoryClockRate
#define cudaSetDevice hipSetDevice
#define cudaMemGetInfo hipMemGetInfo
#define cudaMalloc hipMalloc
#define cudaFree hipFree
#define cudaMallocHost hipHostMalloc
#define cudaFreeHost hipHostFree
#define cudaMemcpyAsync hipMemcpyAsync
#define cudaMemsetAsync hipMemsetAsync
#define cudaMemcpyHostToDevice hipMemcpyHostToDevice
#define cudaMemcpyDeviceToHost hipMemcpyDeviceToHost
#define cudaStreamCreateWithFlags hipStreamCreateWithFlags
#define cudaStreamNonBlocking hipStreamNonBlocking
#define cudaStreamDestroy hipStreamDestroy
#define cudaStreamSynchronize hipStreamSynchronize
#define cudaStreamBeginCapture hipStreamBeginCapture
#define cudaStreamEndCapture hipStreamEndCapture
#define cudaStreamCaptureModeThreadLocal hipStreamCaptureModeThreadLocal
#define cudaGraphLaunch hipGraphLaunch
#define cudaGraphDestroy hipGraphDestroy
#define cudaGraphExecDestroy hipGraphExecDestroy
#endif

namespace tern::cuda {

#ifdef TERN_HIP
struct NoBlas {};
using BlasHandle = NoBlas*;  // always null: no BLAS under HIP
/// The runtime's name in device names ("hip:0 (...)") and messages.
inline constexpr const char* kRuntimeName = "hip";
inline constexpr const char* kRuntimeTitle = "HIP";
#else
using BlasHandle = cublasHandle_t;
inline constexpr const char* kRuntimeName = "cuda";
inline constexpr const char* kRuntimeTitle = "CUDA";
#endif

/// Lanes of one reduction group (see the header comment).
inline constexpr int kWarpSize = 32;

/// Instantiates a captured graph (CUDA 12 and HIP 5 spell the call differently).
inline cudaError_t graph_instantiate(cudaGraphExec_t* exec, cudaGraph_t graph) {
#ifdef TERN_HIP
  return hipGraphInstantiate(exec, graph, nullptr, nullptr, 0);
#else
  return cudaGraphInstantiate(exec, graph, 0);
#endif
}

#if defined(__CUDACC__) || defined(__HIPCC__)
/// v from the lane `offset` away within the 32-lane group (XOR of the lane index).
template <typename T>
__device__ inline T warp_shfl_xor(T v, int offset) {
#ifdef TERN_HIP
  return __shfl_xor(v, offset, kWarpSize);
#else
  return __shfl_xor_sync(0xffffffffu, v, offset);
#endif
}
#endif

}  // namespace tern::cuda
