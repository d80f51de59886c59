export { mean, std, pairedComparison } from '@lopt/eval';
export type { PairedComparison } from '@lopt/eval';
import { mean, std, type PairedComparison } from '@lopt/eval';

/** Formats a loss compactly (4 significant digits; exponent form when small or large). */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2);
  return Number(x.toPrecision(4)).toString();
}

/** `mean ± std` of the finite values, with the count of non-finite ones noted. */
export function formatMeanStd(values: readonly number[]): string {
  const finite = values.filter(Number.isFinite).length;
  if (finite === 0) return values.length ? 'diverged' : '-';
  const s = `${formatNumber(mean(values))} ± ${formatNumber(std(values))}`;
  return finite < values.length ? `${s} (${values.length - finite} diverged)` : s;
}

/** Renders rows as an aligned plain-text table with a header rule. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Renders rows as a GitHub-flavoured markdown table. */
export function renderMarkdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** `+0.012 ± 0.004 (3/10 lower)`, plus `; mean of 8` when diverged pairs are left out of the mean: a {@link PairedComparison} as a table cell. */
export function formatPaired(c: PairedComparison): string {
  const sign = c.meanDiff > 0 ? '+' : '';
  const d = Number.isNaN(c.meanDiff) ? '-' : `${sign}${formatNumber(c.meanDiff)}`;
  const se = Number.isNaN(c.stdErr) ? '' : ` ± ${formatNumber(c.stdErr)}`;
  const partial = c.finitePairs < c.pairs ? `; mean of ${c.finitePairs}` : '';
  return `${d}${se} (${c.lower}/${c.pairs} lower${partial})`;
}
