import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { create, deserializeTree, disposeTree, treeLeaves, type TensorTree } from '@lopt/core';
import { loadLearnedOptimizer, registerAll } from '@lopt/learned';
import { pretrainedDir, runCli, tempDir } from './helpers.js';

// End to end: `lopt convert` on each published file, then the lopt checkpoint it wrote is
// loaded back (by the library and by `lopt eval --optimizer <file>`) and its theta compared
// with the JSON copy, bit for bit. Needs the celo, celoAdam and celo2 architectures in the
// registry (branch celo); until they are merged, apps/cli/vitest.config.ts excludes this file.

/** A JSON leaf; its key, split at '/', is its path in theta (Haiku's rnn/linear nests). */
interface JsonLeaf {
  readonly shape: number[];
  readonly data: number[];
}

const bits = (values: ArrayLike<number>): number[] => Array.from(new Uint32Array(Float32Array.from(values).buffer));

const FILES = [
  { architecture: 'celo', file: 'celo/theta.state', json: 'celo/theta.json' },
  { architecture: 'celoAdam', file: 'celo-adam/theta.state', json: 'celo-adam/theta.json' },
  { architecture: 'celo2', file: 'celo2/celo2_weights.pt', json: 'celo2/celo2_weights.json' },
] as const;

let dir: string;
beforeAll(() => {
  registerAll();
  dir = tempDir('lopt-cli-convert-e2e-');
});

describe.concurrent('lopt convert on the published weights', () => {
  for (const f of FILES) {
    it(`converts ${f.file} into a ${f.architecture} checkpoint equal to ${f.json}, which --optimizer loads`, async () => {
      const source = join(pretrainedDir(), f.file);
      const out = join(dir, `${f.architecture}.safetensors`);
      const run = await runCli(['convert', source, '--out', out]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.trim()).toBe(out);
      expect(run.stderr).toMatch(new RegExp(`converted .*: ${f.architecture} \\(`));

      const bytes = new Uint8Array(readFileSync(out));
      const { metadata, tree } = deserializeTree(bytes);
      disposeTree(tree);
      const lopt = create('learned-optimizer', f.architecture);
      expect([metadata.kind, metadata.name]).toEqual(['learned-optimizer', f.architecture]);
      expect(Object.keys(metadata.config).length).toBeGreaterThan(0);
      for (const [k, v] of Object.entries(metadata.config)) expect(lopt.config[k], k).toEqual(v);
      const sha = createHash('sha256').update(readFileSync(source)).digest('hex');
      expect(metadata.extra.source).toEqual({ file: f.file.split('/')[1], format: f.file.endsWith('.pt') ? 'torch-zip' : 'flax-msgpack', sha256: sha });

      const loaded = loadLearnedOptimizer(bytes);
      const json = (JSON.parse(readFileSync(join(pretrainedDir(), f.json), 'utf8')) as { leaves: Record<string, JsonLeaf> }).leaves;
      expect(treeLeaves(loaded.theta)).toHaveLength(Object.keys(json).length);
      for (const [name, leaf] of Object.entries(json)) {
        const t = name.split('/').reduce<unknown>((node, k) => (node as Record<string, unknown>)[k], loaded.theta) as tf.Tensor;
        expect(t.shape, name).toEqual(leaf.shape);
        expect(bits(t.dataSync()), name).toEqual(bits(leaf.data));
      }
      disposeTree(loaded.theta as TensorTree);

      const evalRun = await runCli(['eval', '--task', 'quadraticTask:dim=4', '--optimizer', out, '--steps', '3', '--seeds', '1', '--no-report', '--out', join(dir, `eval-${f.architecture}`)]);
      expect(evalRun.code, evalRun.stderr).toBe(0);
    });
  }
});
