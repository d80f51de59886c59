// The playground's Web Worker: every run, check and analysis happens here, so the page never
// freezes. One worker per run; the page stops a run by terminating its worker.
import { isLoptError } from '@lopt/core';
import { loadLearnedOptimizer } from '@lopt/learned';
import { disposeTree } from '@lopt/core';
import type { WorkerMessage, WorkerRequest } from '../catalog.js';
import { startBackend } from './backend.js';
import { runInspect } from './inspect.js';
import { runTraining } from './train.js';

const scope = self as unknown as { postMessage(m: WorkerMessage): void; onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null };
const post = (m: WorkerMessage): void => scope.postMessage(m);

function describeError(e: unknown): string {
  if (isLoptError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

async function handle(req: WorkerRequest): Promise<void> {
  post({ type: 'backend', backend: await startBackend(req.baseUrl, req.backend) });
  if (req.type === 'train') return runTraining(req, post);
  if (req.type === 'inspect') return runInspect(req, post);
  const { lopt, theta } = loadLearnedOptimizer(req.theta);
  disposeTree(theta);
  post({ type: 'valid', name: lopt.name, summary: `${lopt.name} ${JSON.stringify(lopt.config).slice(0, 120)}` });
}

scope.onmessage = (e) => {
  handle(e.data).catch((err: unknown) => post({ type: 'error', message: describeError(err) }));
};
