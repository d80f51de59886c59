import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEMO_LEARNING_RATES, DEMO_V1, validateSuite, type SuiteTask } from '@lopt/eval';
import { DEMO_OPTIMIZERS, demoSuite } from './demo.js';
import { PRESETS } from './presets.js';
import { specWithOptions, tunedCandidate } from './suite-optimizers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A task family named in a meta-training config, with its options. */
interface FamilySpec {
  readonly name: string;
  readonly options: Record<string, unknown>;
}

/** Every `{ name: '...Family', options }` inside a config's task family, wrappers and mixtures included. */
function familiesIn(value: unknown): FamilySpec[] {
  if (!value || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap(familiesIn);
  const v = value as Record<string, unknown>;
  const own = typeof v.name === 'string' && v.name.endsWith('Family') ? [{ name: v.name, options: (v.options ?? {}) as Record<string, unknown> }] : [];
  return [...own, ...Object.values(v).flatMap(familiesIn)];
}

/** The image sizes a family samples for a task kind (its `imageSizeRange`, else the family's default), or null if it samples no such task. */
function sampledSizes(family: FamilySpec, task: SuiteTask): readonly [number, number] | null {
  const kinds: Record<string, { family: string; range: [number, number] }> = { imageMlpTask: { family: 'imageMlpFamily', range: [4, 28] }, imageConvTask: { family: 'convFamily', range: [8, 28] } };
  const kind = kinds[task.task ?? ''];
  if (!kind || family.name !== kind.family) return null;
  return (family.options.imageSizeRange as [number, number] | undefined) ?? kind.range;
}

/** Demo tasks whose kind and image size a family of `config` samples. */
function overlaps(config: { taskFamily?: unknown }): string[] {
  return familiesIn(config.taskFamily).flatMap((f) =>
    DEMO_V1.tasks.filter((t) => {
      const r = sampledSizes(f, t);
      const size = t.options?.imageSize as number;
      return r !== null && size >= r[0] && size <= r[1];
    }).map((t) => `${t.id} in ${f.name} ${JSON.stringify(f.options.imageSizeRange ?? 'default')}`),
  );
}

describe('demo-v1 is held out', () => {
  const configs = readdirSync(join(ROOT, 'configs')).filter((f) => f.endsWith('.json')).map((f) => [f, JSON.parse(readFileSync(join(ROOT, 'configs', f), 'utf8')) as { taskFamily?: unknown }] as const);

  it('no meta-training config (configs/*.json) or preset samples a demo task: image MLPs and conv nets at those image sizes are outside every training family', () => {
    expect(configs.length).toBeGreaterThan(0);
    // The walk reaches families nested in wrappers (the phase-1 config wraps imageMlpFamily in an augmentation family).
    expect(configs.flatMap(([, c]) => familiesIn(c.taskFamily).map((f) => f.name))).toContain('imageMlpFamily');
    for (const [file, config] of [...configs, ...Object.entries(PRESETS).map(([n, p]) => [`preset ${n}`, p.config] as const)]) {
      expect(overlaps(config), file).toEqual([]);
    }
  });

  it('the check fires on a family that covers a demo task', () => {
    expect(overlaps({ taskFamily: { name: 'imageMlpFamily', options: {} } })).toEqual(['mnist14-mlp128x64 in imageMlpFamily "default"', 'mnist28-mlp64x32 in imageMlpFamily "default"']);
    const wrapped = { taskFamily: { name: 'randomAugmentationFamily', options: { family: { name: 'convFamily', options: { imageSizeRange: [12, 16] } } } } };
    expect(overlaps(wrapped)).toEqual(['mnist14-conv8x16 in convFamily [12,16]']);
  });
});

describe('demo suite and optimizers', () => {
  it('--quick: 100 steps, seed 0, every other grid point; --steps overrides every horizon and renames the suite', () => {
    const q = validateSuite(demoSuite(true));
    expect([q.name, q.seeds, q.tasks.map((t) => t.steps)]).toEqual(['demo-v1-quick', [0], [100, 100, 100]]);
    expect(q.spaces?.adam).toEqual({ learningRate: { grid: [0.001, 0.01, 0.1] } });
    expect(demoSuite(false)).toBe(DEMO_V1);
    const s = demoSuite(false, 40);
    expect([s.name, s.tasks.map((t) => [t.steps, t.evalEvery])]).toEqual(['demo-v1-40steps', [[40, 4], [40, 4], [40, 4]]]);
  });

  it('a tuned spec is the spec with the trial values set; Celo2 is tuned on the baselines grid', () => {
    expect(specWithOptions('pretrained:celo2', { learningRate: 0.01 })).toBe('pretrained:celo2:learningRate=0.01');
    expect(specWithOptions('pretrained:celo2:routing=regex,learningRate=3', { learningRate: 0.1 })).toBe('pretrained:celo2:routing=regex,learningRate=0.1');
    expect(specWithOptions('sgd', {})).toBe('sgd');
    expect(() => specWithOptions('runs/x/theta.safetensors', { learningRate: 1 })).toThrow(/cannot be tuned/);
    const t = tunedCandidate('pretrained:celo2', { learningRate: { grid: [0.01] } });
    expect(t.label).toBe('pretrained:celo2 [tuned]');
    expect(t.trial({ learningRate: 0.01 })).toEqual({ label: 'pretrained:celo2(learningRate=0.01)', id: 'spec:pretrained:celo2:learningRate=0.01', spec: 'pretrained:celo2:learningRate=0.01' });
    expect(DEMO_OPTIMIZERS.filter((o) => o.tune).map((o) => [o.spec, o.tune])).toEqual([['pretrained:celo2', { learningRate: { grid: DEMO_LEARNING_RATES } }]]);
  });
});
