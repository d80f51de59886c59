import type { OptimizerId, TaskId, WorkerMessage } from './catalog.js';
import { lineChart } from './charts.js';
import { backendPreference, baseUrl, newWorker, show, state } from './state.js';

/** Parses "a, b, c" into finite numbers; throws with the field's name otherwise. */
export function parseList(field: string, text: string): number[] {
  const values = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (values.length === 0 || !values.every(Number.isFinite)) throw new Error(`${field}: enter comma-separated numbers, got "${text}".`);
  return values;
}

const GRID = Array.from({ length: 41 }, (_, i) => -1 + i / 20);

function onResponse(m: WorkerMessage, optimizer: string): boolean {
  if (m.type === 'backend') {
    state.backend = `${m.backend.name}: ${m.backend.detail}`;
    show('backend', state.backend);
  }
  if (m.type === 'response') {
    state.response = { gradients: m.gradients, momenta: m.momenta, updates: m.updates };
    lineChart(document.getElementById('response-chart') as HTMLElement, `${optimizer}: update vs gradient`, 'gradient', 'update', m.gradients, m.momenta.map((mo, i) => ({ label: `momentum ${mo}`, ys: m.updates[i] as number[] })));
    show('inspect-status', `Update response of ${optimizer}: ${m.updates.length} curves x ${m.gradients.length} gradient values, all finite. Probing a real run...`);
    return false;
  }
  if (m.type === 'training-response') {
    state.trainingResponse = { gradients: m.gradients, snapshots: m.snapshots.map((s) => ({ step: s.step, updates: s.updates })) };
    lineChart(document.getElementById('training-response-chart') as HTMLElement, `${optimizer} during training (entry of ${m.path})`, 'gradient', 'update', m.gradients, m.snapshots.map((s) => ({ label: `step ${s.step}`, ys: s.updates[0] as number[] })));
    show('inspect-status', `Update response of ${optimizer}: done (grid and ${m.snapshots.length} steps of a real run).`);
    return true;
  }
  if (m.type === 'error') {
    show('inspect-status', `Error: ${m.message}`);
    return true;
  }
  return false;
}

/** Runs "look inside" in its own worker and plots the response curves. */
export function inspect(optimizer: OptimizerId, label: string, task: TaskId, momentaText: string, warmupText: string, stepsText: string): void {
  let momenta: number[];
  let steps: number[];
  try {
    momenta = parseList('Momentum values', momentaText);
    steps = parseList('Steps of a real run', stepsText);
  } catch (e) {
    show('inspect-status', `Error: ${(e as Error).message}`);
    return;
  }
  state.response = undefined;
  state.trainingResponse = undefined;
  show('inspect-status', `Computing the update response of ${label}...`);
  const w = newWorker();
  w.onmessage = (e: MessageEvent<WorkerMessage>) => {
    if (onResponse(e.data, label)) w.terminate();
  };
  const theta = optimizer === 'uploaded' ? state.theta : undefined;
  w.postMessage({ type: 'inspect', baseUrl: baseUrl(), backend: backendPreference(), optimizer: { id: optimizer }, gradients: GRID, momenta, warmupSteps: Math.max(0, Math.round(Number(warmupText) || 0)), task, steps, ...(theta ? { theta } : {}) });
}
