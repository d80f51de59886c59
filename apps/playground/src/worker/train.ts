import { key, treeLeaves, type Optimizer, type TensorTree } from '@lopt/core';
import { trainOnTask } from '@lopt/eval';
import type { TrainRequest, WorkerMessage } from '../catalog.js';
import { TASKS } from '../catalog.js';
import { buildOptimizer, buildTask } from './build.js';

type Point = { step: number; loss: number; x?: number; y?: number };

/** Wraps an optimizer so that each update reports the first two parameters (the 2-D trajectory). */
function tracking(opt: Optimizer, onParams: (x: number, y: number) => void): Optimizer {
  const report = (params: TensorTree) => {
    const v = treeLeaves(params)[0]?.dataSync();
    if (v && v.length >= 2) onParams(v[0] as number, v[1] as number);
  };
  return {
    name: opt.name,
    init(params, o) {
      report(params);
      return opt.init(params, o);
    },
    update(state, grads, ctx) {
      const next = opt.update(state, grads, ctx);
      report(next.params);
      return next;
    },
  };
}

/**
 * Trains one optimizer on one task with lopt's inner training loop (`trainOnTask` of
 * @lopt/eval), posting the loss curve (and the 2-D trajectory) about 20 times a second.
 * The page stops a run by terminating its worker.
 */
export async function runTraining(req: TrainRequest, post: (m: WorkerMessage) => void): Promise<void> {
  const task = await buildTask(req.task, req.baseUrl);
  const twoD = TASKS[req.task].twoD;
  let pending: Point[] = [];
  let last: { x: number; y: number } | undefined;
  const base = buildOptimizer(req.optimizer, req.steps, req.theta);
  const opt = twoD ? tracking(base, (x, y) => (last = { x, y })) : base;
  const t0 = performance.now();
  let lastPost = 0;
  const flush = (step: number) => {
    post({ type: 'progress', points: pending, stepsPerSec: (step * 1000) / (performance.now() - t0) });
    pending = [];
    lastPost = performance.now();
  };
  const result = trainOnTask(task, opt, {
    steps: req.steps,
    key: key(req.seed),
    onStep: (step, loss) => {
      pending.push({ step, loss, ...(last ?? {}) });
      if (step === 1 || performance.now() - lastPost > 50) flush(step);
    },
  });
  flush(result.steps);
  post({ type: 'done', steps: result.steps, finalLoss: result.finalTrainLoss, diverged: result.diverged, msPerStep: result.msPerStep });
}
