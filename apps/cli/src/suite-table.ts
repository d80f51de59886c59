import { pairedComparison, SUITES, type SuiteResult, type SuiteSummary, type TaskCell } from '@lopt/eval';
import { formatNumber, formatPaired, renderMarkdownTable, renderTable } from './stats.js';

/** The two tables of a suite run: per task, and overall. */
export interface SuiteTables {
  readonly perTask: { readonly header: string[]; readonly rows: string[][] };
  readonly overall: { readonly header: string[]; readonly rows: string[][] };
}

function speedupCell(c: TaskCell): string {
  const s = c.speedup.speedup;
  if (s === 0) return Number.isFinite(c.meanFinal) ? 'no progress' : 'diverged';
  if (!Number.isFinite(s)) return '>1x'; // the reference never reaches this final loss in its horizon
  return `${formatNumber(s)}x`;
}

function hyperText(hp: Readonly<Record<string, number>> | undefined): string {
  return hp ? Object.values(hp).map((v) => formatNumber(v)).join(',') : '-';
}

/**
 * Per task: horizon, the reference's tuned hyperparameters, and per optimizer `loss/ref (speedup)`:
 * its mean final train loss over the reference's and its speedup to target against the reference.
 * Overall: IQM of loss/ref with its 95% bootstrap CI, the paired difference of loss/ref from 1,
 * wins, the AlgoPerf profile score and diverged runs.
 */
export function suiteTables(result: SuiteResult, summary: SuiteSummary): SuiteTables {
  const refName = result.rows.find((r) => r.label === result.reference)?.baseline ?? '';
  const perTaskHeader = ['task', 'steps', `${refName} tuned`, ...summary.rows.map((r) => r.label)];
  const perTaskRows = result.suite.tasks.map((t) => [
    t.id,
    String(t.steps),
    hyperText(result.tuning[refName]?.[t.id]?.best),
    ...summary.rows.map((r) => {
      const c = r.cells[t.id] as TaskCell;
      return `${formatNumber(c.normalized)} (${speedupCell(c)})`;
    }),
  ]);
  const overallHeader = ['optimizer', 'IQM loss/ref [95% CI]', 'loss/ref - 1 (paired)', 'wins', 'profile score', 'diverged runs'];
  const overallRows = summary.rows.map((r) => {
    const ratios = result.suite.tasks.flatMap((t) => {
      const runs = result.rows.find((x) => x.label === r.label)?.runs[t.id] ?? [];
      const ref = result.rows.find((x) => x.label === result.reference)?.runs[t.id] ?? [];
      return runs.map((run, i) => run.finalTrainLoss / (ref[i]?.finalTrainLoss ?? Number.NaN));
    });
    const diverged = Object.values(r.cells).reduce((a, c) => a + c.diverged, 0);
    return [
      r.label,
      `${formatNumber(r.iqm.estimate)} [${formatNumber(r.iqm.low)}, ${formatNumber(r.iqm.high)}]`,
      formatPaired(pairedComparison(ratios, ratios.map(() => 1))).replace(/ lower/, ' below'),
      `${r.wins}/${summary.tasks.length}`,
      r.profileScore.toFixed(3),
      String(diverged),
    ];
  });
  return { perTask: { header: perTaskHeader, rows: perTaskRows }, overall: { header: overallHeader, rows: overallRows } };
}

/** Both tables as plain text, with a note on how to read them. */
export function suiteText(result: SuiteResult, tables: SuiteTables): string {
  const note = `${result.suite.name}: ${result.suite.tasks.length} tasks x ${result.suite.seeds.length} seeds; reference ${result.reference} (hyperparameters tuned per task on seeds ${result.suite.tuningSeeds.join(', ')}). per-task cells: loss/ref (speedup); loss/ref: mean final train loss over the reference's (< 1 is better); speedup: reference steps to reach the optimizer's final loss / the optimizer's own steps to first reach it (> 1 is faster; >1x: the reference never gets there; no progress: it ended no lower than it started); IQM over tasks x seeds of the seed-paired ratio with a stratified bootstrap CI; wins: tasks with a lower mean final loss; profile score: AlgoPerf area (r_max 4) for reaching the reference's final loss.`;
  return `${renderTable(tables.perTask.header, tables.perTask.rows)}\n\n${renderTable(tables.overall.header, tables.overall.rows)}\n\n${note}`;
}

/** Both tables as markdown. */
export function suiteMarkdown(tables: SuiteTables): string {
  return `${renderMarkdownTable(tables.perTask.header, tables.perTask.rows)}\n\n${renderMarkdownTable(tables.overall.header, tables.overall.rows)}\n`;
}

/** `lopt suite list`: each built-in suite, its description and its tasks (id, steps, task or family, options). */
export function suiteListText(): string {
  return Object.values(SUITES)
    .map((s) => `${s.name}: ${s.description}\n${s.tasks.map((t) => `  ${t.id.padEnd(24)} ${String(t.steps).padStart(5)} steps  ${t.task ?? t.family} ${JSON.stringify(t.options ?? {})}`).join('\n')}\n`)
    .join('');
}
