import { describe, expect, it } from 'vitest';
import { chartTitle, linePlot } from './plots.js';

describe('plots', () => {
  it('chartTitle moves a trailing parenthetical to a subtitle line', () => {
    expect(chartTitle('Step size: RMS change (line: mean, band: min–max)')).toEqual({ text: 'Step size: RMS change', subtitle: 'line: mean, band: min–max' });
    expect(chartTitle('Validation loss')).toBe('Validation loss');
    expect(chartTitle('f(x) grows')).toBe('f(x) grows');
    expect(chartTitle('Loss on mix (a, b) (line: mean)')).toEqual({ text: 'Loss on mix (a, b)', subtitle: 'line: mean' });
  });

  it('smooths with a window centered on each point, sorted by x', () => {
    const data = Array.from({ length: 40 }, (_, i) => ({ step: i + 1, metaLoss: i }));
    const plot = linePlot({ id: 'm', title: 'meta', data, x: { field: 'step', title: 'step' }, y: { field: 'metaLoss', title: 'loss' }, smooth: 6 });
    const layers = (plot.spec as unknown as { layer: { transform?: { frame: number[]; sort: { field: string }[] }[] }[] }).layer;
    const window = layers.find((l) => l.transform)?.transform?.[0];
    expect(window?.frame).toEqual([-3, 3]);
    expect(window?.sort).toEqual([{ field: 'step' }]);
  });
});
