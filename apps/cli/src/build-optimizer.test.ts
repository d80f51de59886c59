import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { advance, disposeTree } from '@lopt/core';
import { buildOptimizer, checkpointFile } from './build-optimizer.js';
import { listComponents, pretrainedRows } from './list.js';
import { parseOptimizerSpec } from './spec.js';

describe('checkpointFile', () => {
  it('resolves a run directory to best.safetensors when checkpoint selection wrote one, else theta.safetensors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lopt-ckpt-file-'));
    expect(() => checkpointFile(dir)).toThrow(/holds no theta\.safetensors/);
    writeFileSync(join(dir, 'theta.safetensors'), '');
    expect(checkpointFile(dir)).toBe(join(dir, 'theta.safetensors'));
    writeFileSync(join(dir, 'best.safetensors'), '');
    expect(checkpointFile(dir)).toBe(join(dir, 'best.safetensors'));
    // A file path is taken as given.
    expect(checkpointFile(join(dir, 'theta.safetensors'))).toBe(join(dir, 'theta.safetensors'));
    expect(() => checkpointFile(join(dir, 'nope.safetensors'))).toThrow(/does not exist/);
  });
});

describe('pretrained optimizer specs', () => {
  const holder = { task: undefined, current: undefined } as never;

  it('builds pretrained:celo2 with options and pretrained:celo with the run length; the built optimizers step', async () => {
    const c2 = await buildOptimizer(parseOptimizerSpec('pretrained:celo2:learningRate=0.01,routing=regex'), { numSteps: 20, holder });
    expect(c2.label).toBe('pretrained:celo2(learningRate=0.01, routing=regex)');
    const c = await buildOptimizer(parseOptimizerSpec('pretrained:celo'), { numSteps: 20, holder });
    for (const built of [c2, c]) {
      let state = built.optimizer.init({ w: tf.tensor2d([[1, -1], [0.5, 2]]), bias: tf.tensor1d([0.1, -0.2]) });
      const grads = { w: tf.tensor2d([[0.3, -0.1], [0.2, 0.4]]), bias: tf.tensor1d([1, -1]) };
      const loss = tf.scalar(2);
      state = advance(built.optimizer, state, grads, { loss });
      const moved = Array.from((state.params as { bias: tf.Tensor }).bias.dataSync());
      expect(moved[0]).toBeLessThan(0.1); // a positive gradient moves the parameter down
      expect(moved[1]).toBeGreaterThan(-0.2);
      disposeTree([grads, loss, state.params, state.state as never]);
      built.dispose();
    }
  });

  it('names an unknown pretrained optimizer and a bad option', async () => {
    await expect(buildOptimizer(parseOptimizerSpec('pretrained:velo'), { numSteps: 5, holder })).rejects.toThrow(/No pretrained optimizer 'velo'.*celo2/);
    await expect(buildOptimizer(parseOptimizerSpec('pretrained:celo2:learningRate=-1'), { numSteps: 5, holder })).rejects.toThrow(/learningRate/);
  });

  it('lopt list shows the pretrained optimizers with licence and source', async () => {
    const rows = await pretrainedRows();
    expect(rows.map((r) => r.name)).toEqual(['pretrained:celo', 'pretrained:celo-adam', 'pretrained:celo2', 'pretrained:lopt-small-v1']);
    const text = listComponents(['learned-optimizer'], false, rows);
    expect(text).toMatch(/pretrained:celo2 .*BSD-3-Clause/);
    expect(text).toMatch(/pretrained:celo .*MIT.*github\.com\/amoudgl\/celo/);
    expect(text).toMatch(/pretrained:lopt-small-v1 .*Apache-2\.0/);
    expect(JSON.parse(listComponents(['learned-optimizer'], true, rows)).pretrained).toHaveLength(4);
  });
});
