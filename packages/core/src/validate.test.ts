import { describe, expect, it } from 'vitest';
import { checkKnownKeys } from './validate.js';

describe('checkKnownKeys', () => {
  it('accepts known keys and undefined; names the unknown key, the component and the known ones', () => {
    expect(() => checkKnownKeys('quadraticTask', { dim: 4 }, ['dim'])).not.toThrow();
    expect(() => checkKnownKeys('quadraticTask', undefined, ['dim'])).not.toThrow();
    expect(() => checkKnownKeys('quadraticTask', { bogus: 1 }, ['dim'])).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'bogus', message: "quadraticTask: unknown option 'bogus'. Known options: dim." }),
    );
    expect(() => checkKnownKeys('x', 3, ['dim'])).toThrow(/x: options must be an object, got 3/);
  });

  it('refuses __proto__, constructor and prototype as own keys (as JSON.parse creates them), even when listed', () => {
    for (const k of ['__proto__', 'constructor', 'prototype']) {
      const options = JSON.parse(`{"${k}": {"learningRate": 5}}`) as object;
      expect(Object.keys(options)).toEqual([k]);
      expect(() => checkKnownKeys('adam', options, ['learningRate', k])).toThrow(new RegExp(`adam: the option name '${k}' is not allowed`));
    }
  });
});
