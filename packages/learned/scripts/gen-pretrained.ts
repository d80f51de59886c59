// Regenerates src/pretrained/*-weights.ts: reads the ground-truth JSON copies of the published
// Celo, Celo-Adam and Celo2 weights (`shared/pretrained/`, found by walking up from the
// repository root, or the folder given as the first argument), builds each theta tree with the
// reference's leaf names and shapes, checks it against the architecture, and writes a lopt
// safetensors checkpoint (kind, name, config, licence, source in the metadata) as base64, so
// the package loads the weights without the file system (browser-safe).
// Usage: pnpm --filter @lopt/learned gen:pretrained [-- /path/to/shared/pretrained]
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@lopt/backend';
import type { TensorTree } from '@lopt/core';
import { celo } from '../src/celo.ts';
import { celoAdam } from '../src/celo-adam.ts';
import { celo2 } from '../src/celo2.ts';
import { saveLearnedOptimizer } from '../src/checkpoint.ts';
import type { LearnedArchitecture } from '../src/types.ts';
import { writeWeightsModule } from './weights-module.ts';
import { PRETRAINED_SOURCES, type PretrainedName } from '../src/pretrained/sources.ts';

await initBackend({ backend: 'cpu' });
const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');

function findShared(): string {
  if (process.argv[2]) return resolve(process.argv[2]);
  for (let dir = resolve(pkg, '..', '..'); dir !== dirname(dir); dir = dirname(dir)) {
    const cand = join(dir, '..', 'shared', 'pretrained');
    if (existsSync(join(cand, 'ALGORITHMS.md'))) return cand;
  }
  throw new Error('shared/pretrained not found; pass its path as the first argument');
}

type JsonLeaf = { shape: number[]; dtype: string; data: number[] };

/** Nests `a/b/c` keys into objects (`rnn/linear` becomes `rnn.linear`). */
function nest(leaves: Record<string, JsonLeaf>): TensorTree {
  const root: Record<string, unknown> = {};
  for (const [path, leaf] of Object.entries(leaves)) {
    if (leaf.dtype !== 'float32') throw new Error(`${path}: dtype ${leaf.dtype}`);
    const parts = path.split('/');
    let node = root;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1] as string] = tf.tensor(leaf.data, leaf.shape, 'float32');
  }
  return root as TensorTree;
}

function flat(leaves: Record<string, JsonLeaf>): TensorTree {
  return Object.fromEntries(Object.entries(leaves).map(([k, l]) => [k, tf.tensor(l.data, l.shape, 'float32')]));
}

const shared = findShared();
const jobs: { name: PretrainedName; lopt: LearnedArchitecture; file: string; tree: (l: Record<string, JsonLeaf>) => TensorTree }[] = [
  { name: 'celo', lopt: celo() as unknown as LearnedArchitecture, file: 'celo/theta.json', tree: nest },
  { name: 'celo-adam', lopt: celoAdam() as unknown as LearnedArchitecture, file: 'celo-adam/theta.json', tree: nest },
  { name: 'celo2', lopt: celo2() as unknown as LearnedArchitecture, file: 'celo2/celo2_weights.json', tree: flat },
];
for (const job of jobs) {
  const json = JSON.parse(readFileSync(join(shared, job.file), 'utf8')) as { leaves: Record<string, JsonLeaf>; parameterCount: number };
  const theta = job.tree(json.leaves);
  const count = Object.values(json.leaves).reduce((a, l) => a + l.data.length, 0);
  if (count !== json.parameterCount) throw new Error(`${job.name}: ${count} != ${json.parameterCount}`);
  const src = PRETRAINED_SOURCES[job.name];
  const bytes = saveLearnedOptimizer(job.lopt, theta, { pretrained: job.name, licence: src.licence, source: src.source, paper: src.paper, parameterCount: count });
  writeWeightsModule(pkg, job.name, bytes, { from: `scripts/gen-pretrained.ts from shared/pretrained/${job.file}`, licence: src.licence, what: `published ${job.name}`, count });
}
