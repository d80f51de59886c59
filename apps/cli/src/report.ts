import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '@lopt/core/node';
import { checkCurves } from './curves-schema.js';
import { CliError } from './errors.js';
import { checkJsonValue } from './json-guard.js';
import type { EvalResult } from './evaluate.js';
import { linePlot, renderPng, renderSvg, type Plot, type Row } from './plots.js';
import { ensureWritableDir, readMetrics, readRunJson, RUN_FILES } from './rundir.js';
import { mean } from './stats.js';

/** What `report` wrote. */
export interface ReportFiles {
  readonly html: string;
  readonly svgs: string[];
  readonly pngs: string[];
}

function bandRows(result: EvalResult, field: 'trainLoss' | 'validLoss' | 'stepSize'): Row[] {
  const rows: Row[] = [];
  for (const o of result.optimizers) {
    const steps = new Map<number, number[]>();
    for (const run of o.runs) {
      for (const p of run.curve) {
        const v = p[field];
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        let list = steps.get(p.step);
        if (!list) steps.set(p.step, (list = []));
        list.push(v);
      }
    }
    for (const [step, values] of [...steps.entries()].sort((a, b) => a[0] - b[0])) {
      rows.push({ optimizer: o.label, step, mean: mean(values), lo: Math.min(...values), hi: Math.max(...values), seeds: values.length });
    }
  }
  return rows;
}

/** The plots of a run directory: meta-loss, evaluation curves with seed bands, step sizes, theta scalars. */
export function buildPlots(metrics: Record<string, number>[], evalResult: EvalResult | undefined): Plot[] {
  const plots: Plot[] = [];
  if (metrics.length) {
    const data = metrics.filter((m) => typeof m.step === 'number' && typeof m.metaLoss === 'number').map((m) => ({ step: m.step as number, metaLoss: m.metaLoss as number }));
    const outer = (id: string, title: string, rows: readonly Row[], y: { field: string; title: string }, extra: { series?: { field: string; title: string }; smooth?: number; scheme?: string } = {}): Plot =>
      linePlot({ id, title, data: rows, x: { field: 'step', title: 'outer step' }, y, ...extra });
    plots.push(outer('meta-loss', 'Meta-training: meta-loss per outer step (thin: raw, thick: moving average)', data, { field: 'metaLoss', title: 'meta-loss (normalized)' }, { smooth: Math.max(2, Math.round(data.length / 20)) }));
    const validation = metrics.filter((m) => typeof m.step === 'number' && typeof m.validationLoss === 'number' && Number.isFinite(m.validationLoss)).map((m) => ({ step: m.step as number, validationLoss: m.validationLoss as number }));
    if (validation.length) {
      plots.push(outer('validation', 'Validation loss during meta-training (mean final train loss on the validation tasks; lowest: best.safetensors)', validation, { field: 'validationLoss', title: 'validation loss' }));
    }
    const thetaKeys = [...new Set(metrics.flatMap((m) => Object.keys(m).filter((k) => k.startsWith('theta/'))))];
    if (thetaKeys.length) {
      const rows: Row[] = metrics.flatMap((m) => thetaKeys.filter((k) => typeof m[k] === 'number').map((k) => ({ step: m.step as number, parameter: k.slice(6), value: m[k] as number })));
      plots.push(outer('theta', 'Learned hyperparameters per outer step (raw meta-parameters: log-rates, decay offsets)', rows, { field: 'value', title: 'value' }, { series: { field: 'parameter', title: 'meta-parameter' }, scheme: 'tableau20' }));
    }
  }
  if (evalResult) {
    const where = evalResult.target.kind === 'task-family' ? `${evalResult.seeds} held-out tasks of ${evalResult.target.name}` : `${evalResult.target.name}, ${evalResult.seeds} seeds`;
    const common = { x: { field: 'step', title: 'inner training step' }, y: { field: 'mean', title: '' }, series: { field: 'optimizer', title: 'optimizer' }, band: { lo: 'lo', hi: 'hi' } };
    plots.push(linePlot({ ...common, id: 'eval-train', title: `Train loss on ${where} (line: mean, band: min–max over seeds)`, data: bandRows(evalResult, 'trainLoss'), y: { field: 'mean', title: 'train loss' } }));
    const valid = bandRows(evalResult, 'validLoss');
    if (valid.length) plots.push(linePlot({ ...common, id: 'eval-valid', title: `Held-out loss on ${where} (line: mean, band: min–max over seeds)`, data: valid, y: { field: 'mean', title: 'held-out loss' } }));
    const steps = bandRows(evalResult, 'stepSize');
    if (steps.length) plots.push(linePlot({ ...common, id: 'step-size', title: 'Step size: RMS parameter change per update (line: mean, band: min–max over seeds)', data: steps, y: { field: 'mean', title: 'RMS update' } }));
  }
  return plots;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function readCurves(dir: string): EvalResult {
  const raw = readRunJson<unknown>(dir, RUN_FILES.curves, 'evaluation curves');
  checkJsonValue(raw, join(dir, RUN_FILES.curves));
  return checkCurves(raw, join(dir, RUN_FILES.curves));
}

/**
 * Writes the report of a run directory into `<run>/report/`: `index.html` (self-contained:
 * inline SVG plots, the summary table, the config), and every plot as `.svg` and `.png`.
 */
export async function writeReport(runDir: string): Promise<ReportFiles> {
  const dir = resolve(runDir);
  if (!existsSync(dir)) throw new CliError(`The run directory '${runDir}' does not exist.`, 'Pass a directory written by `lopt meta-train` or `lopt eval --out`.');
  const hasConfig = existsSync(join(dir, RUN_FILES.config));
  const hasCurves = existsSync(join(dir, RUN_FILES.curves));
  if (!hasConfig && !hasCurves) {
    throw new CliError(`'${runDir}' is not a run directory (it has neither ${RUN_FILES.config} nor ${RUN_FILES.curves}).`, 'Pass a directory written by `lopt meta-train` or `lopt eval --out`.');
  }
  const config = hasConfig ? readRunJson<Record<string, unknown>>(dir, RUN_FILES.config, 'the run configuration') : undefined;
  if (config !== undefined) checkJsonValue(config, `${join(dir, RUN_FILES.config)}`);
  const evalResult = hasCurves ? readCurves(dir) : undefined;
  const metrics = readMetrics(dir);
  const plots = buildPlots(metrics, evalResult);
  const out = ensureWritableDir(join(dir, RUN_FILES.reportDir), 'report', `The report is written inside the run directory: make '${runDir}' writable, or copy the run directory somewhere writable and report on the copy.`);
  const svgs: string[] = [];
  const pngs: string[] = [];
  const sections: string[] = [];
  for (const plot of plots) {
    const svg = await renderSvg(plot);
    const svgPath = join(out, `${plot.id}.svg`);
    const pngPath = join(out, `${plot.id}.png`);
    await writeFileAtomic(svgPath, svg);
    await writeFileAtomic(pngPath, renderPng(svg));
    svgs.push(svgPath);
    pngs.push(pngPath);
    sections.push(`<section><h2>${esc(plot.title)}</h2>${svg.replace(/<\?xml[^>]*>/, '')}<p class="files"><a href="${plot.id}.svg">${plot.id}.svg</a> · <a href="${plot.id}.png">${plot.id}.png</a></p></section>`);
  }
  const name = String((config?.config as { name?: unknown } | undefined)?.name ?? (evalResult ? `eval ${evalResult.target.name}` : 'run'));
  const table = evalResult
    ? `<section><h2>Summary</h2><table><thead><tr>${evalResult.header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${evalResult.summary
        .map((r) => `<tr>${r.cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
        .join('')}</tbody></table><p>${esc(
        `${evalResult.steps} inner steps; mean ± std over ${evalResult.seeds} ${evalResult.target.kind === 'task-family' ? 'held-out tasks' : 'seeds'}` +
          (evalResult.reference ? `; steps to reach the mean final train loss of ${evalResult.reference} (seeds that reached it / all)` : '') +
          (evalResult.tuning ? `; Adam's learning rate tuned by random search over ${evalResult.tuning.trials.length} trials, best ${evalResult.tuning.best.toExponential(3)}` : ''),
      )}.</p></section>`
    : '';
  const lastMetric = metrics[metrics.length - 1];
  const metaSummary = lastMetric
    ? `<p>Meta-training: ${metrics.length} outer steps logged; last meta-loss ${esc(String(lastMetric.metaLoss))}.</p>`
    : '';
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lopt report: ${esc(name)}</title>
<style>body{font-family:"DejaVu Sans",system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 10px;text-align:left;font-variant-numeric:tabular-nums}
th{background:#f4f4f4}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}section{margin:2em 0}.files{font-size:12px;color:#666}svg{max-width:100%;height:auto}</style>
</head><body>
<h1>lopt report: ${esc(name)}</h1>
${metaSummary}
${table}
${sections.join('\n')}
${config ? `<section><h2>Configuration</h2><pre>${esc(JSON.stringify(config, null, 2))}</pre></section>` : ''}
</body></html>
`;
  const htmlPath = join(out, 'index.html');
  await writeFileAtomic(htmlPath, html);
  return { html: htmlPath, svgs, pngs };
}
