import type { BackendPreference } from './catalog.js';

/** One run as the page sees it (also read by the browser tests through `window.__playground`). */
export interface RunView {
  readonly label: string;
  readonly losses: number[];
  readonly path: { x: number; y: number }[];
  status: 'starting' | 'running' | 'done' | 'stopped' | 'diverged' | 'error';
  stepsPerSec: number;
}

/** The page's observable state. */
export interface PlaygroundState {
  backend: string | undefined;
  firstStepMs: number | undefined;
  runs: RunView[];
  response: { gradients: number[]; momenta: number[]; updates: number[][] } | undefined;
  trainingResponse: { gradients: number[]; snapshots: { step: number; updates: number[][] }[] } | undefined;
  uploadError: string | undefined;
  theta: Uint8Array | undefined;
}

/** The state, exposed on `window.__playground` for tests and the curious. */
export const state: PlaygroundState = { backend: undefined, firstStepMs: undefined, runs: [], response: undefined, trainingResponse: undefined, uploadError: undefined, theta: undefined };
(globalThis as { __playground?: PlaygroundState }).__playground = state;

/** The base URL workers fetch data and WASM binaries from. */
export function baseUrl(): string {
  return new URL('./', document.baseURI).href;
}

/** `?backend=wasm|webgl|cpu` forces a backend; default `auto`. */
export function backendPreference(): BackendPreference {
  const b = new URLSearchParams(location.search).get('backend');
  return b === 'wasm' || b === 'webgl' || b === 'cpu' ? b : 'auto';
}

/** A new worker running src/worker/index.ts. */
export function newWorker(): Worker {
  return new Worker(new URL('./worker/index.ts', import.meta.url), { type: 'module' });
}

/** Shows `text` in the element with this id (hiding it when empty). */
export function show(id: string, text: string): void {
  const el = document.getElementById(id);
  if (!el) return;
  el.textContent = text;
  el.hidden = text === '';
}
