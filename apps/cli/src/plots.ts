import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One plotted series row. */
export type Row = Record<string, string | number | null>;

/** A plot: a Vega-Lite spec plus the data it shows (embedded in the SVG as JSON). */
export interface Plot {
  /** File stem, e.g. `meta-loss`. */
  readonly id: string;
  readonly title: string;
  readonly spec: TopLevelSpec;
  readonly data: readonly Row[];
}

const FONT = 'DejaVu Sans';

/** Whether positive values span at least a decade (then the y axis is logarithmic). */
export function spansDecades(values: readonly number[]): boolean {
  const v = values.filter(Number.isFinite);
  if (v.length === 0 || v.some((x) => x <= 0)) return false;
  return Math.max(...v) / Math.min(...v) >= 10;
}

const baseConfig = {
  font: FONT,
  axis: { labelFontSize: 12, titleFontSize: 13, grid: true },
  legend: { labelFontSize: 12, titleFontSize: 13, labelLimit: 480, orient: 'bottom', direction: 'vertical', symbolType: 'stroke', symbolStrokeWidth: 4, symbolOpacity: 1, symbolSize: 300 },
  title: { fontSize: 15, anchor: 'start', subtitleFontSize: 12, subtitleColor: '#444' },
  view: { stroke: '#ccc' },
} as const;

/**
 * The chart's title: a trailing parenthetical becomes a subtitle line. Headless Vega
 * estimates text widths (about 0.8 em per character) and sizes the image by them, so one
 * long line would leave a wide empty margin in the SVG and PNG.
 */
export function chartTitle(title: string): string | { text: string; subtitle: string } {
  const m = /^(.*) \(([^()]*)\)$/.exec(title);
  return m ? { text: m[1] as string, subtitle: m[2] as string } : title;
}

/** A line plot of `y` against `x`, one line per `series` value, with an optional min–max band. */
export function linePlot(options: {
  id: string;
  title: string;
  data: readonly Row[];
  x: { field: string; title: string };
  y: { field: string; title: string };
  series?: { field: string; title: string };
  band?: { lo: string; hi: string };
  /** A second, smoothed line (moving average over this many points). */
  smooth?: number;
  /** Vega color scheme for the series (default category10). */
  scheme?: string;
}): Plot {
  const { id, title, data, x, y, series, band, smooth, scheme } = options;
  const yValues = data.flatMap((r) => [r[y.field], ...(band ? [r[band.lo], r[band.hi]] : [])]).filter((v): v is number => typeof v === 'number');
  const log = spansDecades(yValues);
  const yScale = log ? { type: 'log' as const } : { zero: false };
  // Log axes: plain numbers in [1e-3, 1e4), exponent form outside.
  const yAxis = log ? { labelExpr: "datum.value >= 0.001 && datum.value < 10000 ? format(datum.value, '~g') : format(datum.value, '.0e')" } : {};
  const yTitle = log ? `${y.title} (log scale)` : y.title;
  const color = series ? { field: series.field, type: 'nominal' as const, title: series.title, ...(scheme ? { scale: { scheme } } : {}) } : { value: '#4c78a8' };
  const layers: object[] = [];
  // Bands first, lines on top (the legend's stroke symbols come from the config).
  if (band) {
    layers.push({
      mark: { type: 'area', opacity: 0.18 },
      encoding: {
        x: { field: x.field, type: 'quantitative', title: x.title },
        y: { field: band.lo, type: 'quantitative', scale: yScale, title: yTitle, axis: yAxis },
        y2: { field: band.hi },
        color,
      },
    });
  }
  layers.push({
    mark: { type: 'line', strokeWidth: smooth ? 1 : 2, opacity: smooth ? 0.35 : 1 },
    encoding: {
      x: { field: x.field, type: 'quantitative', title: x.title },
      y: { field: y.field, type: 'quantitative', scale: yScale, title: yTitle, axis: yAxis },
      color,
    },
  });
  if (smooth) {
    // Centered window: a trailing one lags the raw curve by half its width.
    const half = Math.max(1, Math.round(smooth / 2));
    layers.push({
      transform: [{ window: [{ op: 'mean', field: y.field, as: 'smoothed' }], frame: [-half, half], sort: [{ field: x.field }], ...(series ? { groupby: [series.field] } : {}) }],
      mark: { type: 'line', strokeWidth: 2.5 },
      encoding: {
        x: { field: x.field, type: 'quantitative' },
        y: { field: 'smoothed', type: 'quantitative', scale: yScale },
        color: series ? color : { value: '#e45756' },
      },
    });
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chartTitle(title),
    width: 640,
    height: 320,
    data: { values: data.filter((r) => typeof r[y.field] === 'number' && Number.isFinite(r[y.field] as number) && (!log || (r[y.field] as number) > 0)) },
    layer: layers,
    config: baseConfig,
  } as unknown as TopLevelSpec;
  return { id, title, spec, data };
}

/** Renders a plot to SVG (headless Vega), with the plotted data embedded as JSON in `<metadata>`. */
export async function renderSvg(plot: Plot): Promise<string> {
  const view = new vega.View(vega.parse(compile(plot.spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const json = JSON.stringify({ id: plot.id, title: plot.title, data: plot.data });
  const metadata = `<metadata id="lopt-data"><![CDATA[${json.replace(/]]>/g, ']]]]><![CDATA[>')}]]></metadata>`;
  return svg.replace(/<svg([^>]*)>/, (m) => `${m}${metadata}`);
}

/** Renders an SVG to PNG at 2x (resvg, system fonts). */
export function renderPng(svg: string): Uint8Array {
  const r = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: FONT }, background: 'white' });
  return r.render().asPng();
}
