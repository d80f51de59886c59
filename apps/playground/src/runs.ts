import { OPTIMIZERS, TASKS, type OptimizerSpec, type TaskId, type WorkerMessage } from './catalog.js';
import { LossChart, drawTrajectories } from './charts.js';
import { backendPreference, baseUrl, newWorker, show, state, type RunView } from './state.js';

const workers: Worker[] = [];
let chart: LossChart | undefined;
let frame = 0;

function redraw(task: TaskId): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    chart?.draw();
    renderTable();
    if (TASKS[task].twoD) drawTrajectories(document.getElementById('trajectory') as HTMLCanvasElement, task, state.runs.map((r) => r.path));
  });
}

function renderTable(): void {
  const body = document.querySelector('#runs tbody') as HTMLTableSectionElement;
  body.replaceChildren(
    ...state.runs.map((r) => {
      const tr = document.createElement('tr');
      const loss = r.losses[r.losses.length - 1];
      for (const text of [r.label, String(r.losses.length), loss === undefined ? '' : loss.toPrecision(4), r.stepsPerSec.toFixed(1), r.status]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }),
  );
}

function onMessage(i: number, task: TaskId, started: number, m: WorkerMessage): void {
  const run = state.runs[i] as RunView;
  if (m.type === 'backend') {
    state.backend = `${m.backend.name}: ${m.backend.detail}`;
    show('backend', state.backend);
  } else if (m.type === 'progress') {
    if (state.firstStepMs === undefined && m.points.some((p) => p.step >= 1)) {
      state.firstStepMs = performance.now() - started;
      show('first-step', `Time to the first training step: ${(state.firstStepMs / 1000).toFixed(2)} s (worker start, backend, data, first update).`);
    }
    run.status = 'running';
    run.stepsPerSec = m.stepsPerSec;
    for (const p of m.points) {
      if (p.step >= 1) run.losses[p.step - 1] = p.loss;
      if (p.x !== undefined && p.y !== undefined) run.path.push({ x: p.x, y: p.y });
    }
    chart?.add(i, m.points);
  } else if (m.type === 'done') {
    run.status = m.diverged ? 'diverged' : 'done';
    finish(i);
  } else if (m.type === 'error') {
    run.status = 'error';
    show('run-error', `${run.label}: ${m.message}`);
    finish(i);
  }
  redraw(task);
}

function finish(i: number): void {
  workers[i]?.terminate();
  if (state.runs.every((r) => r.status !== 'running' && r.status !== 'starting')) (document.getElementById('stop') as HTMLButtonElement).disabled = true;
}

/** Starts one worker per optimizer, all on the same task, steps and seed (same init, same batches). */
export function startRuns(task: TaskId, steps: number, specs: readonly OptimizerSpec[]): void {
  stopRuns();
  workers.length = 0;
  chart ??= new LossChart(document.getElementById('loss-chart') as HTMLElement);
  state.runs = specs.map((s) => ({ label: `${OPTIMIZERS[s.id].label}${s.lr !== undefined ? ` lr=${s.lr}` : ''}`, losses: [], path: [], status: 'starting', stepsPerSec: 0 }));
  state.firstStepMs = undefined;
  chart.reset(state.runs.map((r) => r.label));
  show('run-error', '');
  show('first-step', '');
  (document.getElementById('trajectory') as HTMLCanvasElement).hidden = !TASKS[task].twoD;
  const started = performance.now();
  specs.forEach((optimizer, i) => {
    const w = newWorker();
    workers.push(w);
    w.onmessage = (e: MessageEvent<WorkerMessage>) => onMessage(i, task, started, e.data);
    w.postMessage({ type: 'train', baseUrl: baseUrl(), backend: backendPreference(), task, optimizer, steps, seed: 0, ...(optimizer.id === 'uploaded' && state.theta ? { theta: state.theta } : {}) });
  });
  (document.getElementById('stop') as HTMLButtonElement).disabled = false;
  renderTable();
}

/** Stops every run (terminates its worker); curves so far stay on the chart. */
export function stopRuns(): void {
  workers.forEach((w, i) => {
    w.terminate();
    const run = state.runs[i];
    if (run && (run.status === 'running' || run.status === 'starting')) run.status = 'stopped';
  });
  (document.getElementById('stop') as HTMLButtonElement).disabled = true;
  renderTable();
}
