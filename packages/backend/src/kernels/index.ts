/**
 * Registers lopt's implementations of kernels the WASM backend lacks.
 * Returns the names of the kernels it registered (already-present kernels are left alone).
 */
export function fillWasmKernelGaps(): string[] {
  return [];
}
