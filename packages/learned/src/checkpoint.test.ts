import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { create, deserializeTree, disposeTree, has, key, list, serializeTree, type TensorTree } from '@lopt/core';
import { expectTreeClose } from '@lopt/testkit';
import { adafacMlpLOpt } from './adafac-mlp-lopt.js';
import { ARCHITECTURES } from './architectures.js';
import { loadLearnedOptimizer, saveLearnedOptimizer } from './checkpoint.js';
import { mlpLOpt } from './mlp-lopt.js';
import { registerAll } from './register.js';
import { smallParams } from './test-helpers.js';

describe('learned-optimizer checkpoints', () => {
  it('round-trips theta and rebuilds the optimizer from the bytes alone', () => {
    const lopt = adafacMlpLOpt({ stepMult: 0.01, initialRmsDecays: [0.99] });
    const theta = lopt.init(key(1));
    const bytes = saveLearnedOptimizer(lopt, theta, { step: 42 });
    const { metadata } = deserializeTree(bytes);
    expect(metadata.kind).toBe('learned-optimizer');
    expect(metadata.name).toBe('adafacMlpLOpt');
    expect(metadata.config.stepMult).toBe(0.01);
    expect(metadata.config.fused).toBeUndefined();
    const loaded = loadLearnedOptimizer(bytes);
    expect(loaded.lopt.name).toBe('adafacMlpLOpt');
    expect(loaded.lopt.config.stepMult).toBe(0.01);
    expect(loaded.lopt.config.initialRmsDecays).toEqual([0.99]);
    expect(loaded.extra).toEqual({ step: 42 });
    expectTreeClose(loaded.theta, theta, { rtol: 0, atol: 0 });
    // The rebuilt optimizer takes the same step as the original.
    const a = lopt.optimizer(theta);
    const b = loaded.lopt.optimizer(loaded.theta);
    const sa = a.init(smallParams(key(2)));
    const sb = b.init(smallParams(key(2)));
    const g = smallParams(key(3));
    expectTreeClose(b.update(sb, g).params, a.update(sa, g).params, { rtol: 0, atol: 0 });
    disposeTree([theta, loaded.theta]);
  });

  it('loads under any runtime setting of fused, and with the expected architecture', () => {
    const lopt = adafacMlpLOpt({ fused: true });
    const theta = lopt.init(key(1));
    const bytes = saveLearnedOptimizer(lopt, theta);
    const again = loadLearnedOptimizer(bytes, { expect: adafacMlpLOpt({ fused: false }), runtime: { fused: false } });
    expect(again.lopt.config.fused).toBe(false);
    disposeTree([theta, again.theta]);
  });

  it('fails with CHECKPOINT_MISMATCH for another architecture or config', () => {
    const lopt = adafacMlpLOpt();
    const theta = lopt.init(key(1));
    const bytes = saveLearnedOptimizer(lopt, theta);
    expect(() => loadLearnedOptimizer(bytes, { expect: mlpLOpt() })).toThrow(expect.objectContaining({ code: 'CHECKPOINT_MISMATCH' }));
    expect(() => loadLearnedOptimizer(bytes, { expect: adafacMlpLOpt({ hiddenSize: 8 }) })).toThrow(expect.objectContaining({ code: 'CHECKPOINT_MISMATCH' }));
    expect(() => loadLearnedOptimizer(bytes, { expect: adafacMlpLOpt({ stepMult: 0.5 }) })).toThrow(/config/);
    // A checkpoint whose config claims other sizes than its tensors have.
    const forged = serializeTree(theta as unknown as TensorTree, { kind: 'learned-optimizer', name: 'adafacMlpLOpt', config: { ...lopt.config, hiddenSize: 5, fused: undefined } });
    expect(() => loadLearnedOptimizer(forged)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_MISMATCH' }));
    const unknown = serializeTree(theta as unknown as TensorTree, { kind: 'learned-optimizer', name: 'velo' });
    expect(() => loadLearnedOptimizer(unknown)).toThrow(/not built in/);
    const otherKind = serializeTree(theta as unknown as TensorTree, { kind: 'optimizer-state', name: 'adafacMlpLOpt' });
    expect(() => loadLearnedOptimizer(otherKind)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_MISMATCH' }));
    const corrupt = bytes.slice();
    corrupt[corrupt.length - 3] = (corrupt[corrupt.length - 3] as number) ^ 0xff;
    expect(() => loadLearnedOptimizer(corrupt)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_INVALID' }));
    // Saving theta of another architecture is refused.
    expect(() => saveLearnedOptimizer(mlpLOpt(), theta)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    disposeTree(theta);
  });

  it('every architecture round-trips through saveLearnedOptimizer/loadLearnedOptimizer without leaking', () => {
    const before = tf.memory().numTensors;
    for (const [name, entry] of Object.entries(ARCHITECTURES)) {
      const lopt = entry.factory({});
      const theta = lopt.init(key(7));
      const loaded = loadLearnedOptimizer(saveLearnedOptimizer(lopt, theta));
      expect(loaded.lopt.name).toBe(name);
      expectTreeClose(loaded.theta, theta, { rtol: 0, atol: 0 });
      disposeTree([theta, loaded.theta]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('registerAll', () => {
  it('registers every architecture under learned-optimizer, idempotently', () => {
    registerAll();
    registerAll();
    const names = list('learned-optimizer').map((e) => e.name);
    for (const n of ['learnableSgd', 'learnableSgdm', 'learnableAdam', 'mlpLOpt', 'adafacMlpLOpt', 'mlpNomLOpt', 'rnnMlpLOpt', 'nnAdam', 'lstmL2L', 'celo', 'celoAdam', 'scheduleAdam', 'controlAdam', 'celo2', 'dmdLOpt']) {
      expect(names).toContain(n);
      expect(has('learned-optimizer', n)).toBe(true);
    }
    const lopt = create('learned-optimizer', 'adafacMlpLOpt', { hiddenSize: 4 });
    expect(lopt.name).toBe('adafacMlpLOpt');
    expect(() => create('learned-optimizer', 'adafacMlpLOpt', { hiddenSize: -1 })).toThrow(/hiddenSize/);
  });
});
