import { join } from 'node:path';
import { writeFileAtomic } from '@lopt/core/node';
import { meanCurve, type SuiteResult, type SuiteSummary } from '@lopt/eval';
import { linePlot, renderPng, renderSvg, type Plot, type Row } from './plots.js';

/** The performance-profile plot and one seed-mean train-loss plot per task. */
export function suitePlots(result: SuiteResult, summary: SuiteSummary): Plot[] {
  const profile: Row[] = summary.rows.flatMap((r) => summary.profileTaus.map((tau, i) => ({ optimizer: r.label, tau, rho: r.profile[i] ?? 0 })));
  const plots = [
    linePlot({
      id: 'performance-profile',
      title: `Performance profile on ${result.suite.name} (fraction of tasks reaching the reference's final loss within tau x the fastest)`,
      data: profile,
      x: { field: 'tau', title: 'tau (time ratio to the fastest)' },
      y: { field: 'rho', title: 'fraction of tasks' },
      series: { field: 'optimizer', title: 'optimizer' },
    }),
  ];
  for (const task of result.suite.tasks) {
    const data: Row[] = result.rows.flatMap((row) => {
      const c = meanCurve(row.runs[task.id] ?? []);
      return c.steps.map((step, i) => ({ optimizer: row.label, step, trainLoss: c.losses[i] ?? null }));
    });
    plots.push(linePlot({ id: `task-${task.id}`, title: `${task.id} (train loss, mean over ${result.suite.seeds.length} seeds)`, data, x: { field: 'step', title: 'step' }, y: { field: 'trainLoss', title: 'train loss' }, series: { field: 'optimizer', title: 'optimizer' } }));
  }
  return plots;
}

/** Writes `report/index.html` with every plot inline, and each plot as SVG and PNG. */
export async function writeSuiteReport(dir: string, result: SuiteResult, summary: SuiteSummary, markdownTables: string): Promise<string> {
  const plots = suitePlots(result, summary);
  const sections: string[] = [];
  for (const plot of plots) {
    const svg = await renderSvg(plot);
    await writeFileAtomic(join(dir, 'report', `${plot.id}.svg`), svg);
    await writeFileAtomic(join(dir, 'report', `${plot.id}.png`), renderPng(svg));
    sections.push(`<section><h2>${plot.title.replace(/</g, '&lt;')}</h2>${svg}</section>`);
  }
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>lopt suite ${result.suite.name}</title></head><body><h1>lopt suite ${result.suite.name}</h1><pre>${markdownTables.replace(/</g, '&lt;')}</pre>${sections.join('\n')}</body></html>\n`;
  const file = join(dir, 'report', 'index.html');
  await writeFileAtomic(file, html);
  return file;
}
