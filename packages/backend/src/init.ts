import * as tf from '@tensorflow/tfjs-core';
// The union package registers every gradient and the CPU backend (tfjs-core alone registers no gradients).
import '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { LoptError, checkNumber, checkOneOf } from '@lopt/core';
import { fillWasmKernelGaps } from './kernels/index.js';
import { fillGradientGaps } from './gradients.js';

/** A backend choice: `auto` picks the fastest installed one. */
export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
/** A concrete backend lopt can run on. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** The backend choices, in the order `auto` tries them. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Which backend to start. Default: `LOPT_BACKEND` from the environment, else `auto`. */
  readonly backend?: BackendChoice;
  /**
   * Threads for the WASM backend (an integer >= 1). Takes effect only where multithreaded WASM
   * is available (a cross-origin-isolated browser page) and only before the WASM backend first
   * starts; tfjs-backend-wasm 4.22 runs single-threaded in Node (its threaded build cannot start
   * workers there), so in Node `threads` is always 1.
   */
  readonly wasmThreads?: number;
}

/** What {@link initBackend} chose and why. */
export interface BackendInfo {
  /** The backend now active. */
  readonly name: BackendName;
  /** The tfjs backend name (`tensorflow`, `wasm`, `cpu`). */
  readonly tfjsName: string;
  /** Why this backend was chosen, in one sentence. */
  readonly reason: string;
  /** Whether WASM SIMD is in use (false for other backends). */
  readonly simd: boolean;
  /** Threads the backend computes with (1 for CPU). */
  readonly threads: number;
  /** Kernels lopt provides on this backend because it lacked them or got them wrong (see `wasmKernelFills`). */
  readonly filledKernels: readonly string[];
  /** Gradients lopt registered because tfjs lacks them (every backend), e.g. `Einsum`. */
  readonly filledGradients: readonly string[];
}

let current: BackendInfo | undefined;

/** The backend {@link initBackend} last started, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current && tf.getBackend() === current.tfjsName ? current : undefined;
}

function envChoice(): string | undefined {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> } };
  const v = g.process?.env?.LOPT_BACKEND;
  return v === undefined || v === '' ? undefined : v;
}

const importAttempts = new Map<string, Promise<boolean>>();

/** Imports an optional package once per process (a failed native import must not be retried). */
function tryImport(specifier: string): Promise<boolean> {
  let attempt = importAttempts.get(specifier);
  if (!attempt) {
    attempt = import(/* @vite-ignore */ specifier).then(
      () => true,
      () => false,
    );
    importAttempts.set(specifier, attempt);
  }
  return attempt;
}

async function startTensorflow(): Promise<{ ok: boolean; which?: string }> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if (await tryImport(pkg)) {
      if (await tf.setBackend('tensorflow')) return { ok: true, which: pkg };
    }
  }
  return { ok: false };
}

function silenceCpuBanner(): void {
  // The CPU backend prints a "use tfjs-node" banner on first use; lopt says which backend runs itself.
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
}

async function startWasm(threads: number | undefined): Promise<BackendInfo | undefined> {
  if (threads !== undefined) setThreadsCount(threads);
  try {
    if (!(await tf.setBackend('wasm'))) return undefined;
    await tf.ready();
  } catch {
    return undefined;
  }
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const filled = fillWasmKernelGaps();
  return {
    name: 'wasm',
    tfjsName: 'wasm',
    reason: '',
    simd,
    threads: getThreadsCount(),
    filledKernels: filled,
    filledGradients: fillGradientGaps(),
  };
}

/** The error for a backend that cannot start; `message` says what to install. */
function unavailable(message: string): LoptError {
  return new LoptError('BACKEND_UNAVAILABLE', message, { option: 'backend' });
}

/**
 * Starts the tensor backend and registers gradients. Applications, examples and test
 * set-up call this once; library packages never pick a backend.
 *
 * `auto` tries `@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node` (optional peer
 * dependencies, loaded only when installed), then the WASM backend (SIMD, binaries shipped
 * in the npm package), then the plain JS CPU backend. Asking for a specific backend that is
 * not available throws `LoptError('BACKEND_UNAVAILABLE')` saying what to install.
 *
 * @example
 * ```ts
 * const info = await initBackend();            // or { backend: 'wasm' }, or LOPT_BACKEND=cpu
 * console.log(`backend: ${info.name} (${info.reason})`);
 * ```
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const fromEnv = options.backend === undefined ? envChoice() : undefined;
  const choice = checkOneOf(
    fromEnv !== undefined ? 'LOPT_BACKEND' : 'backend',
    options.backend ?? fromEnv ?? 'auto',
    BACKEND_CHOICES,
  );
  const wasmThreads =
    options.wasmThreads === undefined ? undefined : checkNumber('wasmThreads', options.wasmThreads, { integer: true, min: 1 });
  const source = options.backend !== undefined ? 'requested' : fromEnv !== undefined ? 'set by LOPT_BACKEND' : 'auto';
  silenceCpuBanner();
  const filledGradients = fillGradientGaps();

  if (choice === 'tensorflow' || choice === 'auto') {
    const tfn = await startTensorflow();
    if (tfn.ok) {
      current = {
        name: 'tensorflow',
        tfjsName: 'tensorflow',
        reason: `${source}: ${tfn.which} is installed (native TensorFlow)`,
        simd: false,
        threads: 0,
        filledKernels: [],
        filledGradients,
      };
      return current;
    }
    if (choice === 'tensorflow') {
      throw unavailable("Backend 'tensorflow' needs @tensorflow/tfjs-node (or @tensorflow/tfjs-node-gpu for CUDA): run `pnpm add @tensorflow/tfjs-node` on a machine with internet access (its install downloads libtensorflow), or choose 'wasm'.");
    }
  }
  if (choice === 'wasm' || choice === 'auto') {
    const wasm = await startWasm(wasmThreads);
    if (wasm) {
      current = {
        ...wasm,
        reason:
          choice === 'auto'
            ? 'auto: tfjs-node is not installed; WASM is the fastest available backend'
            : `${source}: WASM backend`,
      };
      return current;
    }
    if (choice === 'wasm') {
      throw unavailable("Backend 'wasm' failed to start: install @tensorflow/tfjs-backend-wasm (a dependency of @lopt/backend) and make sure its .wasm files are reachable (setWasmPaths in a browser).");
    }
  }
  if (!(await tf.setBackend('cpu'))) {
    throw unavailable("The JS CPU backend failed to start; is @tensorflow/tfjs installed?");
  }
  await tf.ready();
  silenceCpuBanner();
  current = {
    name: 'cpu',
    tfjsName: 'cpu',
    reason: choice === 'cpu' ? `${source}: plain JS CPU backend` : 'auto: neither tfjs-node nor WASM could start',
    simd: false,
    threads: 1,
    filledKernels: [],
    filledGradients,
  };
  return current;
}

/** Sets where the WASM backend loads its `.wasm` files from (browsers, bundlers). */
export function setWasmBinaryPath(prefix: string): void {
  setWasmPaths(prefix);
}

/** Whether gradients are registered for the ops lopt differentiates (a health check used in tests). */
export function gradientsRegistered(): boolean {
  return ['Square', 'BatchMatMul', 'Conv2D', 'Relu', 'Sum', 'Multiply', 'Exp'].every((k) => tf.getGradient(k) !== undefined);
}
