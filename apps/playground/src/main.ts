import './style.css';
import { OPTIMIZERS, TASKS, type OptimizerId, type OptimizerSpec, type TaskId, type WorkerMessage } from './catalog.js';
import { inspect } from './inspect-ui.js';
import { startRuns, stopRuns } from './runs.js';
import { backendPreference, baseUrl, newWorker, show, state } from './state.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

function option(value: string, label: string): HTMLOptionElement {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = label;
  return o;
}

function buildForm(): void {
  const task = $<HTMLSelectElement>('task');
  for (const [id, t] of Object.entries(TASKS)) task.append(option(id, t.label));
  task.value = 'mnist-mlp';
  $<HTMLInputElement>('steps').value = String(TASKS['mnist-mlp'].steps);
  task.onchange = () => ($<HTMLInputElement>('steps').value = String(TASKS[task.value as TaskId].steps));
  const box = $<HTMLFieldSetElement>('optimizers');
  for (const [id, o] of Object.entries(OPTIMIZERS)) {
    const label = document.createElement('label');
    const check = Object.assign(document.createElement('input'), { type: 'checkbox', checked: id === 'adam' || id === 'celo', value: id });
    check.dataset.opt = id;
    label.append(check, o.label);
    if (o.lr !== undefined) {
      const lr = Object.assign(document.createElement('input'), { type: 'number', step: 'any', placeholder: String(o.lr), title: 'learning rate' });
      lr.dataset.lr = id;
      label.append(lr);
    }
    box.append(label);
    if (o.learned) $<HTMLSelectElement>('inspect-opt').append(option(id, o.label));
  }
  $<HTMLSelectElement>('inspect-opt').value = 'celo';
}

function chosenSpecs(): OptimizerSpec[] {
  return [...document.querySelectorAll<HTMLInputElement>('#optimizers input[type=checkbox]:checked')].map((c) => {
    const id = c.value as OptimizerId;
    const lr = Number(document.querySelector<HTMLInputElement>(`input[data-lr="${id}"]`)?.value || Number.NaN);
    return Number.isFinite(lr) && lr > 0 ? { id, lr } : { id };
  });
}

function onUpload(file: File): void {
  state.theta = undefined;
  state.uploadError = undefined;
  show('upload-error', '');
  show('upload-status', `Checking ${file.name}...`);
  void file.arrayBuffer().then((buf) => {
    const bytes = new Uint8Array(buf);
    const w = newWorker();
    w.onmessage = (e: MessageEvent<WorkerMessage>) => {
      const m = e.data;
      if (m.type === 'valid') {
        state.theta = bytes;
        show('upload-status', `Loaded ${file.name}: ${m.summary}. Tick "Uploaded theta" to train with it.`);
      } else if (m.type === 'error') {
        state.uploadError = m.message;
        show('upload-status', '');
        show('upload-error', `Could not load ${file.name}: ${m.message}`);
      } else return;
      w.terminate();
    };
    w.postMessage({ type: 'validate', baseUrl: baseUrl(), backend: backendPreference(), theta: bytes });
  });
}

function wire(): void {
  $('start').onclick = () => {
    const specs = chosenSpecs();
    const steps = Math.round(Number($<HTMLInputElement>('steps').value));
    if (specs.length === 0 || !(steps >= 1 && steps <= 20000)) return show('run-error', 'Pick at least one optimizer and 1-20000 steps.');
    if (specs.some((s) => s.id === 'uploaded') && !state.theta) return show('run-error', 'Upload a valid .safetensors theta first.');
    startRuns($<HTMLSelectElement>('task').value as TaskId, steps, specs);
  };
  $('stop').onclick = () => stopRuns();
  $<HTMLInputElement>('theta-file').onchange = (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) onUpload(file);
  };
  $('inspect-run').onclick = () => {
    const id = $<HTMLSelectElement>('inspect-opt').value as OptimizerId;
    if (id === 'uploaded' && !state.theta) return show('inspect-status', 'Error: upload a valid .safetensors theta first.');
    inspect(id, OPTIMIZERS[id].label, $<HTMLSelectElement>('task').value as TaskId, $<HTMLInputElement>('momenta').value, $<HTMLInputElement>('warmup').value, $<HTMLInputElement>('inspect-steps').value);
  };
}

buildForm();
wire();
document.body.dataset.ready = 'true';
