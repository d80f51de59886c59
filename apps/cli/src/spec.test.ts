import { describe, expect, it } from 'vitest';
import { parseValue, parseKeyValues } from './options.js';
import { CliError } from './errors.js';
import { parseOptimizerSpec, specLabel } from './spec.js';

/** The whole paragraph the CLI prints: problem and fix. */
function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof CliError ? `${e.message} ${e.fix}` : String(e);
  }
  throw new Error('expected a failure');
}

describe('optimizer specs', () => {
  it('parses a registry name with typed options', () => {
    const s = parseOptimizerSpec('adam:learningRate=1e-3,beta1=0.9,nesterov=true,hidden=[32,32],mode=fast');
    expect(s).toEqual({
      kind: 'registry',
      name: 'adam',
      options: { learningRate: 0.001, beta1: 0.9, nesterov: true, hidden: [32, 32], mode: 'fast' },
      text: 'adam:learningRate=1e-3,beta1=0.9,nesterov=true,hidden=[32,32],mode=fast',
    });
    expect(specLabel(s)).toBe('adam(learningRate=1e-3, beta1=0.9, nesterov=true, hidden=[32,32], mode=fast)');
  });

  it('treats paths as checkpoints', () => {
    expect(parseOptimizerSpec('runs/quickstart/theta.safetensors')).toMatchObject({ kind: 'checkpoint', path: 'runs/quickstart/theta.safetensors' });
    expect(parseOptimizerSpec('theta.safetensors')).toMatchObject({ kind: 'checkpoint' });
    expect(specLabel(parseOptimizerSpec('/tmp/a/b/theta.safetensors'))).toBe('learned:b/theta.safetensors');
  });

  it('parses pretrained specs with and without options, and rejects a malformed one', () => {
    expect(parseOptimizerSpec('pretrained:celo2')).toEqual({ kind: 'pretrained', name: 'celo2', options: {}, text: 'pretrained:celo2' });
    const s = parseOptimizerSpec('pretrained:celo-adam:stepMult=2e-3');
    expect(s).toMatchObject({ kind: 'pretrained', name: 'celo-adam', options: { stepMult: 0.002 } });
    expect(specLabel(s)).toBe('pretrained:celo-adam(stepMult=2e-3)');
    expect(failure(() => parseOptimizerSpec('pretrained:'))).toMatch(/names no pretrained optimizer.*pretrained:celo2/);
    const g = parseOptimizerSpec('guard:lossGuarded(pretrained:celo2:learningRate=1e-2, adam)');
    expect(g).toMatchObject({ kind: 'guard', inner: { kind: 'pretrained', name: 'celo2', options: { learningRate: 0.01 } } });
  });

  it('parses nested guards with inner options and guard options', () => {
    const s = parseOptimizerSpec('guard:lossGuarded(runs/q/theta.safetensors, adam:learningRate=1e-2;beta1=0.8, every=5, lookahead=2)');
    expect(s.kind).toBe('guard');
    if (s.kind !== 'guard') return;
    expect(s.guard).toBe('lossGuarded');
    expect(s.inner).toMatchObject({ kind: 'checkpoint', path: 'runs/q/theta.safetensors' });
    expect(s.fallback).toMatchObject({ kind: 'registry', name: 'adam', options: { learningRate: 0.01, beta1: 0.8 } });
    expect(s.options).toEqual({ every: 5, lookahead: 2 });
    const nested = parseOptimizerSpec('guard:divergenceGuard(guard:lossGuarded(sgd, adam), sgd:learningRate=0.1)');
    expect(nested.kind === 'guard' && nested.inner.kind).toBe('guard');
  });

  it('rejects malformed specs with a message that says how to write them', () => {
    expect(() => parseOptimizerSpec('guard:lossGuarded(adam)')).toThrow(/exactly two optimizer specs/);
    expect(() => parseOptimizerSpec('guard:lossGuarded(adam:learningRate=1,beta1=0.9, sgd)')).toThrow(/exactly two optimizer specs/);
    expect(failure(() => parseOptimizerSpec('guard:fancy(adam, sgd)'))).toMatch(/Unknown guard 'fancy'.*lossGuarded, divergenceGuard, safeguarded/);
    expect(failure(() => parseOptimizerSpec('adam:learningRate'))).toMatch(/Cannot read 'learningRate'.*key=value/);
    expect(() => parseOptimizerSpec('')).toThrow(/empty optimizer spec/);
    expect(() => parseOptimizerSpec('9adam')).toThrow(/not a valid optimizer spec/);
  });

  it('parses values', () => {
    expect(parseValue('-2.5e-3')).toBe(-0.0025);
    expect(parseValue('.5')).toBe(0.5);
    expect(parseValue('null')).toBeNull();
    expect(parseValue('{"a":[1,2]}')).toEqual({ a: [1, 2] });
    expect(parseValue('relu')).toBe('relu');
    expect(() => parseValue('[1,2')).toThrow(/does not parse/);
    expect(parseKeyValues('a=1;b=x', 'test')).toEqual({ a: 1, b: 'x' });
  });
});
