import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

/** The color of series `i`. */
export function color(i: number): string {
  return COLORS[i % COLORS.length] as string;
}

/** A live loss chart: one series per run, log-scale loss against the step. */
export class LossChart {
  private plot: uPlot | undefined;
  private xs: number[] = [];
  private ys: (number | null)[][] = [];

  constructor(private readonly el: HTMLElement) {}

  /** Starts a new chart with these run labels. */
  reset(labels: readonly string[]): void {
    this.plot?.destroy();
    this.xs = [];
    this.ys = labels.map(() => []);
    const series: uPlot.Series[] = [{ label: 'step' }, ...labels.map((label, i) => ({ label, stroke: color(i), width: 2, spanGaps: true }))];
    this.plot = new uPlot({ width: Math.min(720, this.el.clientWidth || 720), height: 300, series, scales: { x: { time: false }, y: { distr: 3 } }, axes: [{ label: 'step' }, { label: 'loss (log)' }] }, [[], ...labels.map(() => [])], this.el);
  }

  /** Adds points of run `i` (1-based steps). */
  add(i: number, points: readonly { step: number; loss: number }[]): void {
    for (const p of points) {
      while (this.xs.length < p.step) {
        this.xs.push(this.xs.length + 1);
        for (const y of this.ys) y.push(null);
      }
      const row = this.ys[i];
      if (row && p.step >= 1) row[p.step - 1] = Number.isFinite(p.loss) && p.loss > 0 ? p.loss : null;
    }
  }

  /** Redraws (call at most once a frame). */
  draw(): void {
    this.plot?.setData([this.xs, ...this.ys] as uPlot.AlignedData);
  }
}

/** A static line chart of `series` (y values) against shared `xs`. */
export function lineChart(el: HTMLElement, title: string, xLabel: string, yLabel: string, xs: readonly number[], series: readonly { label: string; ys: readonly number[] }[]): uPlot {
  el.replaceChildren();
  const opts: uPlot.Options = {
    title,
    width: Math.min(720, el.clientWidth || 720),
    height: 280,
    scales: { x: { time: false } },
    series: [{ label: xLabel }, ...series.map((s, i) => ({ label: s.label, stroke: color(i), width: 2 }))],
    axes: [{ label: xLabel }, { label: yLabel, size: 70, values: (_u, vals) => vals.map((v) => (v === 0 ? '0' : v.toExponential(1))) }],
  };
  return new uPlot(opts, [xs.slice(), ...series.map((s) => s.ys.slice())] as uPlot.AlignedData, el);
}

/** The loss surface of a 2-D task, for the trajectory view's background (plain JS, no tfjs). */
function surface(task: string): (x: number, y: number) => number {
  return task === 'rosenbrock' ? (x, y) => 100 * (y - x * x) ** 2 + (1 - x) ** 2 : (x, y) => x * x + y * y;
}

/** Draws log-loss contours of the 2-D task and each run's trajectory. */
export function drawTrajectories(canvas: HTMLCanvasElement, task: string, paths: readonly { x: number; y: number }[][]): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const [x0, x1, y0, y1] = task === 'rosenbrock' ? [-2.2, 2.2, -1.5, 4] : [-2.5, 2.5, -2.5, 2.5];
  const w = canvas.width;
  const h = canvas.height;
  const f = surface(task);
  const img = ctx.createImageData(w, h);
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      const v = Math.log10(1e-3 + f(x0 + ((x1 - x0) * i) / w, y1 - ((y1 - y0) * j) / h));
      const band = (Math.floor(v * 3) % 2 + 2) % 2 === 0 ? 245 : 228;
      const o = (j * w + i) * 4;
      img.data.set([band, band, 255 - (255 - band) / 2, 255], o);
    }
  }
  ctx.putImageData(img, 0, 0);
  const px = (x: number) => ((x - x0) / (x1 - x0)) * w;
  const py = (y: number) => ((y1 - y) / (y1 - y0)) * h;
  paths.forEach((path, k) => {
    ctx.strokeStyle = color(k);
    ctx.lineWidth = 2;
    ctx.beginPath();
    path.forEach((p, i) => (i === 0 ? ctx.moveTo(px(p.x), py(p.y)) : ctx.lineTo(px(p.x), py(p.y))));
    ctx.stroke();
  });
}
