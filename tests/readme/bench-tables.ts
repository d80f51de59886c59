// README benchmark tables rendered from committed benchmark results, so the numbers a README
// quotes are exactly those of a run on record (with its date and load average). A README
// holds each table between `<!-- bench-table: <results json> -->` and `<!-- /bench-table -->`;
// `pnpm docs:bench-tables` rewrites them, and readme-snippets.test.ts checks they are current.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DemoTable } from '../../apps/cli/src/demo.ts';
import { markdownFiles } from './extract.ts';

interface TasksRow {
  readonly backend: string;
  readonly task: string;
  readonly params: number;
  readonly flopsPerStep: number;
  readonly stepsPerSecond: number;
  readonly msPerStep: number;
  readonly achievedGflops: number;
  readonly matmul512Gflops: number;
  readonly fractionOfMatmulRate: number;
}
/** When and where a benchmark ran: what {@link provenance} prints. */
interface RunRecord {
  readonly date: string;
  readonly cpus: number;
  readonly loadAverageStart: readonly number[];
  readonly loadAverageEnd: readonly number[];
}
interface TasksResult extends RunRecord {
  readonly results: readonly TasksRow[];
  readonly speedups: readonly { task: string; wasmOverCpu: number }[];
}
interface OptimizerRow {
  readonly backend: string;
  readonly params: number;
  readonly optimizer: string;
  readonly nsPerParamStep: number;
  readonly ratioVsTfjs: number | null;
}
interface OptimizersResult extends RunRecord {
  readonly node: string;
  readonly rows: readonly OptimizerRow[];
}

interface DemoResult extends RunRecord {
  readonly command: string;
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly demo: DemoTable;
}

const BLOCK = /<!-- bench-table: (\S+) -->\n[\s\S]*?<!-- \/bench-table -->/g;

/** `2026-12-04 16:48 UTC`, 2 cores, load average (1/5/15 min) `0.83 0.65 0.29` -> `1.65 0.89 0.39`. */
function provenance(r: RunRecord, file: string): string {
  const when = `${r.date.slice(0, 10)} ${r.date.slice(11, 16)} UTC`;
  return `Measured ${when} on ${r.cpus} shared cores, load average (1/5/15 min) ${r.loadAverageStart.join(' / ')} at the start and ${r.loadAverageEnd.join(' / ')} at the end; from [\`${file.split('/').slice(-3).join('/')}\`](${file.split('/').slice(2).join('/')}).`;
}

const fmt = (x: number, digits: number) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function tasksTable(r: TasksResult, file: string): string {
  const lines = [
    provenance(r, file),
    '',
    '| backend | task | params | MFLOP/step | steps/s | ms/step | achieved GFLOP/s | paired 512² matmul GFLOP/s | fraction |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...r.results.map(
      (x) =>
        `| ${x.backend} | ${x.task} | ${fmt(x.params, 0)} | ${fmt(x.flopsPerStep / 1e6, 1)} | ${fmt(x.stepsPerSecond, 1)} | ${fmt(x.msPerStep, 2)} | ${fmt(x.achievedGflops, 2)} | ${fmt(x.matmul512Gflops, 2)} | ${fmt(x.fractionOfMatmulRate, 2)} |`,
    ),
    '',
    `WASM / CPU steps per second (same run): ${r.speedups.map((s) => `${s.task.split(' (')[0]} ${fmt(s.wasmOverCpu, 2)}x`).join(', ')}.`,
  ];
  return lines.join('\n');
}

function optimizersTable(r: OptimizersResult, file: string): string {
  const sizes = [...new Set(r.rows.map((x) => x.params))].sort((a, b) => a - b);
  const label = (n: number) => (n >= 2 ** 20 ? `${n / 2 ** 20}M` : `${n / 2 ** 10}K`);
  const lines = [provenance(r, file), ''];
  for (const backend of [...new Set(r.rows.map((x) => x.backend))]) {
    lines.push(`**${backend.toUpperCase()}** — ns per parameter per step (fastest of interleaved rounds); ratio = lopt / tfjs in the same run`, '');
    lines.push(`| optimizer | ${sizes.map((s) => `${label(s)} ns | ${label(s)} ratio`).join(' | ')} |`);
    lines.push(`|---|${sizes.map(() => '---:|---:').join('|')}|`);
    for (const name of [...new Set(r.rows.filter((x) => x.backend === backend).map((x) => x.optimizer))]) {
      const cells = sizes.map((s) => {
        const row = r.rows.find((x) => x.backend === backend && x.params === s && x.optimizer === name);
        return row === undefined ? '– | –' : `${fmt(row.nsPerParamStep, 2)} | ${row.ratioVsTfjs === null ? '–' : fmt(row.ratioVsTfjs, 2)}`;
      });
      lines.push(`| ${name} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  const adam = (backend: string) =>
    sizes
      .filter((s) => s >= 2 ** 20)
      .map((s) => fmt(r.rows.find((x) => x.backend === backend && x.params === s && x.optimizer === 'lopt adam')?.ratioVsTfjs ?? NaN, 2))
      .join(' / ');
  lines.push(`lopt \`adam\` (fused kernel) / \`tf.train.adam\` at ${sizes.filter((s) => s >= 2 ** 20).map(label).join(' / ')}: ${adam('wasm')} on WASM, ${adam('cpu')} on CPU.`);
  return lines.join('\n');
}

const sig = (x: number) => String(Number(x.toPrecision(3)));

/** `lopt demo`'s table (apps/cli/scripts/time-demo.mjs): final loss and ratio to tuned Adam per task, wins, and the run's time. */
function demoTable(r: DemoResult, file: string): string {
  const d = r.demo;
  const when = `${r.date.slice(0, 10)} ${r.date.slice(11, 16)} UTC`;
  const lines = [
    `\`${r.command}\` from an empty cache, ${when}, ${r.cpus} shared cores: ${Math.round(r.wallSeconds)} s wall, ${Math.round(r.cpuSeconds)} CPU-seconds (the command and its workers), load average (1/5/15 min) ${r.loadAverageStart.join(' / ')} at the start and ${r.loadAverageEnd.join(' / ')} at the end; from \`${file}\`. Final train loss, mean over seeds ${d.seeds.join(' and ')}; in brackets the ratio to tuned Adam's (below 1 is better).`,
    '',
    `| optimizer | ${d.tasks.map((t) => `${t.id} (${t.steps} steps)`).join(' | ')} | wins vs tuned Adam |`,
    `|---|${d.tasks.map(() => '---:').join('|')}|---:|`,
    ...d.rows.map((row) => {
      const ref = row.label === d.reference;
      const cells = d.tasks.map((t) => (ref ? `${sig(row.finalLoss[t.id] ?? NaN)} (lr ${t.adamLearningRate})` : `${sig(row.finalLoss[t.id] ?? NaN)} (${sig(row.vsAdam[t.id] ?? NaN)}x)`));
      return `| ${row.label} | ${cells.join(' | ')} | ${ref ? '–' : `${row.wins}/${d.tasks.length}`} |`;
    }),
    '',
    'Held-out (test-split) loss at the end of the same runs, mean over the seeds:',
    '',
    `| optimizer | ${d.tasks.map((t) => t.id).join(' | ')} | lower than tuned Adam |`,
    `|---|${d.tasks.map(() => '---:').join('|')}|---:|`,
    ...d.rows.map((row) => `| ${row.label} | ${d.tasks.map((t) => sig(row.heldOutLoss[t.id] ?? NaN)).join(' | ')} | ${row.label === d.reference ? '–' : `${row.heldOutWins}/${d.tasks.length}`} |`),
  ];
  return lines.join('\n');
}

/** The rendered table for a results file (relative to the repository root). */
export function renderBenchTable(root: string, file: string): string {
  const data = JSON.parse(readFileSync(join(root, file), 'utf8')) as TasksResult & OptimizersResult;
  if (file.endsWith('/tasks.json')) return tasksTable(data, file);
  if (file.endsWith('/optimizers.json')) return optimizersTable(data, file);
  if (/\/demo-v\d+\.json$/.test(file)) return demoTable(JSON.parse(readFileSync(join(root, file), 'utf8')) as DemoResult, file);
  throw new Error(`no bench-table renderer for ${file}`);
}

/** A Markdown text with every bench-table block rendered from its results file. */
export function renderBenchTables(root: string, markdown: string): string {
  return markdown.replace(BLOCK, (_m, file: string) => `<!-- bench-table: ${file} -->\n${renderBenchTable(root, file)}\n<!-- /bench-table -->`);
}

/** The bench-table blocks of a Markdown text, markers included, split into lines. */
export function benchTableBlocks(markdown: string): string[][] {
  return [...markdown.matchAll(BLOCK)].map((m) => m[0].split('\n'));
}

/** The results files a Markdown text renders tables from. */
export function benchTableSources(markdown: string): string[] {
  return [...markdown.matchAll(BLOCK)].map((m) => m[1] as string);
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  for (const f of markdownFiles(root)) {
    const text = readFileSync(join(root, f), 'utf8');
    const next = renderBenchTables(root, text);
    if (next !== text) {
      writeFileSync(join(root, f), next);
      console.log(`updated ${f}`);
    }
  }
}
