/** Mean of the finite values, NaN when there are none. */
export function mean(values: readonly number[]): number {
  const v = values.filter(Number.isFinite);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
}

/** Sample standard deviation of the finite values (0 for one value, NaN for none). */
export function std(values: readonly number[]): number {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return Number.NaN;
  if (v.length === 1) return 0;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
}

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

/** A paired comparison of one optimizer's per-task losses with a reference's on the same tasks. */
export interface PairedComparison {
  /** Mean of `value - reference` over the pairs where both are finite (NaN if none). */
  readonly meanDiff: number;
  /** Standard error of that mean (sample std / sqrt(pairs)); NaN with fewer than 2 pairs. */
  readonly stdErr: number;
  /** Pairs where the value is strictly lower than the reference (a diverged value never is; a finite value always is below a diverged reference). */
  readonly lower: number;
  /** Number of pairs. */
  readonly pairs: number;
  /** Pairs in the mean and standard error (both finite; fewer than `pairs` when a run diverged). */
  readonly finitePairs: number;
}

/** Compares `values[i]` with `reference[i]` pair by pair (the two arrays must be the same length). */
export function pairedComparison(values: readonly number[], reference: readonly number[]): PairedComparison {
  if (values.length !== reference.length) throw new RangeError(`pairedComparison: ${values.length} values vs ${reference.length} reference values`);
  const diffs: number[] = [];
  let lower = 0;
  values.forEach((v, i) => {
    const r = reference[i] as number;
    if (v < r) lower++;
    if (Number.isFinite(v) && Number.isFinite(r)) diffs.push(v - r);
  });
  const meanDiff = mean(diffs);
  const stdErr = diffs.length >= 2 ? std(diffs) / Math.sqrt(diffs.length) : Number.NaN;
  return { meanDiff, stdErr, lower, pairs: values.length, finitePairs: diffs.length };
}

/** `+0.012 ± 0.004 (3/10 lower)`, plus `; mean of 8` when diverged pairs are left out of the mean: a {@link PairedComparison} as a table cell. */
export function formatPaired(c: PairedComparison): string {
  const sign = c.meanDiff > 0 ? '+' : '';
  const d = Number.isNaN(c.meanDiff) ? '-' : `${sign}${formatNumber(c.meanDiff)}`;
  const se = Number.isNaN(c.stdErr) ? '' : ` ± ${formatNumber(c.stdErr)}`;
  const partial = c.finitePairs < c.pairs ? `; mean of ${c.finitePairs}` : '';
  return `${d}${se} (${c.lower}/${c.pairs} lower${partial})`;
}
