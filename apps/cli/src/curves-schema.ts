import { z } from 'zod';
import { CliError } from './errors.js';
import type { EvalResult } from './evaluate.js';

const num = z.number().nullable();

/** The parts of `eval/curves.json` the report reads (other fields are kept as they are). */
const curvesSchema = z.looseObject({
  target: z.looseObject({ kind: z.enum(['task', 'task-family']), name: z.string() }),
  steps: z.number(),
  seeds: z.number(),
  reference: z.string().nullable(),
  tuning: z.looseObject({ trials: z.array(z.unknown()), best: z.number() }).nullable(),
  optimizers: z.array(
    z.looseObject({
      label: z.string(),
      runs: z.array(z.looseObject({ curve: z.array(z.looseObject({ step: z.number(), trainLoss: num, validLoss: num.optional(), stepSize: num.optional() })) })),
    }),
  ),
  summary: z.array(z.looseObject({ cells: z.array(z.string()) })),
  header: z.array(z.string()),
});

/**
 * Checks that parsed `eval/curves.json` has the fields the report uses, with their types,
 * so a truncated or edited file is a {@link CliError} naming the first bad field rather
 * than a TypeError inside plotting.
 */
export function checkCurves(value: unknown, path: string): EvalResult {
  const r = curvesSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue && issue.path.length ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(top level)';
    throw new CliError(
      `${path} is not an evaluation result written by lopt: field '${field}' ${issue ? `is invalid (${issue.message})` : 'is invalid'}.`,
      'The file was edited or truncated; re-run `lopt eval` (or meta-train with an eval section) to write it again.',
    );
  }
  return value as EvalResult;
}
