// Regenerates src/pretrained/lopt-small-v1-weights.ts from the theta checkpoint of a
// `lopt meta-train --config configs/lopt-small-v1.json` run (its best.safetensors, chosen by
// validation): checks that it is a controlAdam checkpoint with the committed config's
// architecture options, and re-saves it with the provenance in the metadata.
// Usage: pnpm --filter @lopt/learned gen:pretrained:own -- <run-dir>/best.safetensors
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@lopt/backend';
import { treeLeaves } from '@lopt/core';
import { loadLearnedOptimizer, saveLearnedOptimizer } from '../src/checkpoint.ts';
import { controlAdam } from '../src/control-adam.ts';
import { PRETRAINED_SOURCES } from '../src/pretrained/sources.ts';
import { writeWeightsModule } from './weights-module.ts';

await initBackend({ backend: 'cpu' });
const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = process.argv[2];
if (!file) throw new Error('usage: gen-pretrained-own.ts <run-dir>/best.safetensors');
const repo = resolve(pkg, '..', '..');
const config = JSON.parse(readFileSync(join(repo, 'configs', 'lopt-small-v1.json'), 'utf8')) as { learnedOptimizer: { name: string; options: Record<string, number> } };
if (config.learnedOptimizer.name !== 'controlAdam') throw new Error(`configs/lopt-small-v1.json trains '${config.learnedOptimizer.name}', not controlAdam`);
const { lopt, theta, extra } = loadLearnedOptimizer(new Uint8Array(readFileSync(resolve(file))), { expect: controlAdam(config.learnedOptimizer.options) });
const count = treeLeaves(theta).reduce((a, l) => a + l.size, 0);
const src = PRETRAINED_SOURCES['lopt-small-v1'];
const bytes = saveLearnedOptimizer(lopt, theta, { pretrained: 'lopt-small-v1', licence: src.licence, source: src.source, paper: src.paper, parameterCount: count, outerStep: extra.step ?? null });
writeWeightsModule(pkg, 'lopt-small-v1', bytes, { from: `scripts/gen-pretrained-own.ts from a run of configs/lopt-small-v1.json (outer step ${String(extra.step)})`, licence: src.licence, what: "lopt-small-v1 (lopt's own, meta-trained)", count });
