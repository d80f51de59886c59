import { disposeTree } from '@lopt/core';
import { updateResponse, updateResponseDuringTraining } from '@lopt/learned';
import type { InspectRequest, WorkerMessage } from '../catalog.js';
import { buildTask, learnedChoice } from './build.js';

/**
 * "Look inside": the learned optimizer's update as a function of the gradient for each
 * momentum value (after `warmupSteps` steps of that constant gradient), then, when a task is
 * given, at chosen steps of a real run on it (with the real optimizer state).
 */
export async function runInspect(req: InspectRequest, post: (m: WorkerMessage) => void): Promise<void> {
  const { lopt, theta } = learnedChoice(req.optimizer, req.theta);
  try {
    const r = updateResponse(lopt, theta, { gradients: req.gradients, momenta: req.momenta, warmupSteps: req.warmupSteps });
    post({ type: 'response', gradients: r.gradients, momenta: r.momenta, updates: r.updates });
    if (req.task !== undefined && req.steps !== undefined && req.steps.length > 0) {
      const task = await buildTask(req.task, req.baseUrl);
      const t = updateResponseDuringTraining(lopt, theta, { task, steps: req.steps, gradients: req.gradients, probes: 1 });
      post({ type: 'training-response', gradients: t.gradients, path: t.path, snapshots: t.snapshots.map((s) => ({ step: s.step, loss: s.loss, updates: s.updates })) });
    }
  } finally {
    disposeTree(theta);
  }
}
