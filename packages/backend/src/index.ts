/**
 * `@lopt/backend`: starts the fastest available TensorFlow.js backend and fills the WASM
 * backend's kernel gaps. The only lopt package that imports a backend.
 * @packageDocumentation
 */
export { initBackend, currentBackend, setWasmBinaryPath, gradientsRegistered, BACKEND_CHOICES } from './init.js';
export type { BackendChoice, BackendName, BackendInfo, InitBackendOptions } from './init.js';
export { fillWasmKernelGaps, wasmKernelFills } from './kernels/index.js';
export type { KernelFill, KernelGap, KernelRoute } from './kernels/index.js';
export { fillGradientGaps } from './gradients.js';
export { MATMUL_KERNELS, SLOW_FACTOR, matMulRewrites, probeMatMulKernel, setMatMulRewrites } from './kernels/mat_mul_fixes.js';
export type { MatMulProbe, MatMulProbeCase, MatMulSlowLayouts } from './kernels/mat_mul_fixes.js';
