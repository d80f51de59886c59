import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers.js';

describe('lopt inspect', () => {
  it('recovers SGD-momentum 0.9 on a quadratic, prints the table and writes the curves', async () => {
    const out = join(tempDir(), 'inspect.json');
    const run = await runCli(['--backend', 'cpu', 'inspect', 'sgd:learningRate=0.05,momentum=0.9', '--task', 'quadraticTask', '--steps', '30', '--coordinates', '16', '--out', out]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/momentum beta \(SGD-momentum fit\)\s+0\.900/);
    const json = JSON.parse(readFileSync(out, 'utf8')) as { momentum: { beta: number; learningRate: number }; schedule: { scale: number[] }; curves: { loss: number[]; response: { grad: number[] } } };
    expect(Math.abs(json.momentum.beta - 0.9)).toBeLessThan(0.005);
    expect(json.momentum.learningRate).toBeCloseTo(0.05, 4);
    expect(json.schedule.scale).toHaveLength(30);
    expect(json.curves.loss).toHaveLength(30);
    expect(json.curves.response.grad.length).toBeGreaterThan(1);
  });

  it('refuses a guard spec and bad numbers with exit code 2', async () => {
    const guard = await runCli(['inspect', 'guard:lossGuarded(adam, sgd)', '--task', 'quadraticTask']);
    expect(guard.code).toBe(2);
    expect(guard.stderr).toMatch(/guard/);
    const steps = await runCli(['inspect', 'adam', '--task', 'quadraticTask', '--steps', '1']);
    expect(steps.code).toBe(2);
    expect(steps.stderr).toMatch(/--steps must be an integer in \[2, 100000\]/);
  });
});
