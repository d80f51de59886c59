import { describe, expect, it } from 'vitest';
import type { Optimizer } from './contracts.js';
import { LoptError } from './errors.js';
import { create, has, list, register, unregister } from './registry.js';

const dummy = (name: string): Optimizer => ({
  name,
  init: (params) => ({ params, state: [], iteration: 0 }),
  update: (s) => s,
});

describe('registry', () => {
  it('registers, creates with options and lists sorted', () => {
    const factory = (o: Readonly<Record<string, unknown>>) => dummy(`zz-${String(o.tag ?? 'none')}`);
    register('optimizer', 'zz-test', factory, 'a test optimizer');
    register('optimizer', 'zz-test', factory, 'a test optimizer'); // idempotent for the same factory
    expect(create('optimizer', 'zz-test', { tag: 'x' }).name).toBe('zz-x');
    expect(list('optimizer').find((e) => e.name === 'zz-test')).toEqual({ name: 'zz-test', description: 'a test optimizer' });
    expect(has('optimizer', 'zz-test')).toBe(true);
    expect(has('task', 'zz-test')).toBe(false);
    expect(unregister('optimizer', 'zz-test')).toBe(true);
  });

  it('refuses duplicates and unknown names with clear errors', () => {
    register('estimator', 'zz-dup', () => ({ name: 'a', init: () => 0, estimate: () => { throw new Error(); } }), 'a');
    expect(() => register('estimator', 'zz-dup', () => ({ name: 'b', init: () => 0, estimate: () => { throw new Error(); } }), 'b')).toThrow(
      expect.objectContaining({ code: 'DUPLICATE_NAME' }),
    );
    expect(() => create('estimator', 'zz-dpu')).toThrow(/Did you mean 'zz-dup'/);
    expect(() => create('task', 'nothing')).toThrow(LoptError);
    expect(() => register('widget' as 'task', 'x', () => { throw new Error(); }, '')).toThrow(/Unknown registry kind 'widget'/);
    expect(() => register('task', '1bad name', () => { throw new Error(); }, '')).toThrow(/must start with a letter/);
    unregister('estimator', 'zz-dup');
  });

  it('refuses what a broken factory returns, naming the kind, the name and the missing functions (issue 14, item 7)', () => {
    register('task', 'zz-garbage', () => 42 as never, 'returns a number');
    register('task-family', 'zz-half', () => ({ sample: () => 0 }) as never, 'has no task()');
    expect(() => create('task', 'zz-garbage')).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: "The factory registered as task 'zz-garbage' returned number, not a task (one with functions init and loss); the code that registered it (a plugin?) is broken." }),
    );
    expect(() => create('task-family', 'zz-half')).toThrow(/returned an object without task, not a task-family/);
    unregister('task', 'zz-garbage');
    unregister('task-family', 'zz-half');
  });
});
