import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '@lopt/core/node';
import { summaryMarkdown, summaryText, type EvalResult } from './evaluate.js';
import { RUN_FILES } from './rundir.js';

/** Writes `eval/curves.json`, `eval/summary.json` and `eval/summary.md` into a run directory. */
export async function writeEvalFiles(runDir: string, result: EvalResult): Promise<void> {
  await writeJsonAtomic(join(runDir, RUN_FILES.curves), result);
  await writeJsonAtomic(join(runDir, RUN_FILES.summary), {
    target: result.target,
    steps: result.steps,
    seeds: result.seeds,
    reference: result.reference,
    tuning: result.tuning,
    rows: result.summary,
  });
  await writeFileAtomic(join(runDir, RUN_FILES.summaryMd), `${summaryMarkdown(result)}\n\n${summaryText(result).split('\n').pop() ?? ''}\n`);
}
