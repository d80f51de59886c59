// End-to-end: the built playground in real headless Chromium (Debian's /usr/bin/chromium,
// never a downloaded browser), served from 127.0.0.1. Writes test-output/ (screenshot and
// measured numbers) as a CI artifact.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { key } from '@lopt/core';
import { learnableAdam, saveLearnedOptimizer } from '@lopt/learned';
import type { PlaygroundState } from '../src/state.js';
import { serveStatic } from './static-server.js';

const app = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(app, 'dist');
const out = join(app, 'test-output');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let server: Server;
let base: string;
let context: BrowserContext;
let userDataDir: string;
const metrics: Record<string, number | string> = {};

type Win = { __playground: PlaygroundState };
const pageState = (page: Page) => page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as Win).__playground)) as PlaygroundState);

beforeAll(async () => {
  if (!existsSync(join(dist, 'index.html'))) execFileSync('pnpm', ['run', 'build'], { cwd: app, stdio: 'inherit' });
  mkdirSync(out, { recursive: true });
  ({ server, url: base } = await serveStatic(dist));
  userDataDir = mkdtempSync(join(tmpdir(), 'lopt-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1200, height: 1500 } });
});

afterAll(async () => {
  await context?.close();
  server?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  writeFileSync(join(out, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
});

async function open(query = ''): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${base}${query}`);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

/** Mean of `xs[from, to)`. */
const mean = (xs: readonly number[], from: number, to: number) => xs.slice(from, to).reduce((s, v) => s + v, 0) / (to - from);

describe('the playground in headless Chromium', () => {
  it('trains Adam and pretrained Celo on MNIST side by side on WASM; both loss curves fall', async () => {
    const page = await open();
    const firstLoad = await page.evaluate(() => performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation')).reduce((s, e) => s + ((e as PerformanceResourceTiming).encodedBodySize || 0), 0));
    metrics.firstLoadBytes = firstLoad;
    expect(firstLoad).toBeGreaterThan(10_000);
    expect(firstLoad).toBeLessThan(300_000); // tfjs and the data load later, in the worker
    await page.selectOption('#task', 'mnist-mlp');
    await page.fill('#steps', '150');
    const checked = await page.$$eval('#optimizers input[type=checkbox]:checked', (els) => els.map((e) => (e as HTMLInputElement).value));
    expect(checked.sort()).toEqual(['adam', 'celo']);
    await page.click('#start');
    await page.waitForFunction(() => (window as unknown as Win).__playground.runs.every((r) => r.status === 'done'), undefined, { timeout: 100_000 });
    const s = await pageState(page);
    expect(s.backend).toMatch(/^wasm/);
    metrics.backend = s.backend as string;
    metrics.firstStepMs = Math.round(s.firstStepMs as number);
    for (const run of s.runs) {
      expect(run.losses).toHaveLength(150);
      expect(run.losses.every(Number.isFinite)).toBe(true);
      // the first steps sit near ln(10) = 2.30 (10 classes); the last 20 are well below
      expect(mean(run.losses, 0, 3)).toBeGreaterThan(1.9);
      expect(mean(run.losses, 130, 150)).toBeLessThan(0.75 * mean(run.losses, 0, 5));
      metrics[`${run.label} steps/s`] = Number(run.stepsPerSec.toFixed(1));
      metrics[`${run.label} final loss`] = Number(mean(run.losses, 140, 150).toFixed(3));
    }
    expect(await page.locator('#loss-chart canvas').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(out, 'playground.png'), fullPage: true });
    await page.close();
  });

  it('"look inside" plots a finite update response of Celo, a descent direction, also at steps of a real run', async () => {
    const page = await open();
    await page.selectOption('#task', 'mnist-mlp');
    await page.selectOption('#inspect-opt', 'celo');
    await page.fill('#inspect-steps', '0, 10');
    await page.click('#inspect-run');
    await page.waitForFunction(() => (window as unknown as Win).__playground.trainingResponse !== undefined || /Error/.test(document.getElementById('inspect-status')?.textContent ?? ''), undefined, { timeout: 60_000 });
    const s = await pageState(page);
    expect(await page.textContent('#inspect-status')).not.toContain('Error');
    const r = s.response as NonNullable<PlaygroundState['response']>;
    expect(r.momenta).toEqual([-0.5, 0, 0.5]);
    expect(r.updates).toHaveLength(3);
    for (const row of r.updates) {
      expect(row).toHaveLength(41);
      expect(row.every(Number.isFinite)).toBe(true);
      expect(row[40] as number).toBeLessThan(row[0] as number); // gradient +1 moves down, -1 moves up
    }
    const t = s.trainingResponse as NonNullable<PlaygroundState['trainingResponse']>;
    expect(t.snapshots.map((x) => x.step)).toEqual([0, 10]);
    expect(t.snapshots.every((x) => x.updates.flat().every(Number.isFinite))).toBe(true);
    const box = await page.locator('#response-chart canvas').first().boundingBox();
    expect(box?.width ?? 0).toBeGreaterThan(100);
    expect(await page.locator('#training-response-chart canvas').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(out, 'look-inside.png'), fullPage: true });
    await page.close();
  });

  it('shows an error for a corrupt uploaded theta and keeps working', async () => {
    const page = await open();
    await page.setInputFiles('#theta-file', { name: 'corrupt.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('\x10\x00\x00\x00\x00\x00\x00\x00{"oops": not json}') });
    await page.waitForSelector('#upload-error:not([hidden])', { timeout: 30_000 });
    const text = await page.textContent('#upload-error');
    expect(text).toContain('Could not load corrupt.safetensors');
    expect(text).toMatch(/CHECKPOINT_INVALID/);
    expect((await pageState(page)).theta).toBeUndefined();
    expect(await page.isEnabled('#start')).toBe(true);
    await page.close();
  });

  it('falls back to the CPU backend on request, draws the 2-D trajectory, and the stop button stops a run', async () => {
    const page = await open('?backend=cpu');
    await page.selectOption('#task', 'rosenbrock');
    await page.fill('#steps', '20000');
    await page.click('#start');
    await page.waitForFunction(() => (window as unknown as Win).__playground.runs.every((r) => r.losses.length >= 20), undefined, { timeout: 60_000 });
    await page.click('#stop');
    const stopped = await pageState(page);
    await page.waitForTimeout(500);
    const later = await pageState(page);
    expect(stopped.backend).toMatch(/^cpu/);
    expect(later.runs.map((r) => r.status)).toEqual(['stopped', 'stopped']);
    expect(later.runs.map((r) => r.losses.length)).toEqual(stopped.runs.map((r) => r.losses.length));
    expect(stopped.runs.every((r) => r.losses.length < 20000 && r.path.length >= 20)).toBe(true);
    expect(await page.isVisible('#trajectory')).toBe(true);
    await page.close();
  });

  it('trains the MNIST conv net and the char-LSTM (AdamW + schedule, Muon) with finite losses', async () => {
    const page = await open();
    for (const task of ['mnist-conv', 'char-lstm']) {
      await page.selectOption('#task', task);
      await page.fill('#steps', '8');
      await page.uncheck('input[data-opt="adam"]');
      await page.uncheck('input[data-opt="celo"]');
      await page.check('input[data-opt="adamw-cosine"]');
      await page.check('input[data-opt="muon"]');
      await page.click('#start');
      await page.waitForFunction(() => (window as unknown as Win).__playground.runs.every((r) => r.status === 'done' || r.status === 'error'), undefined, { timeout: 60_000 });
      const s = await pageState(page);
      expect(await page.isHidden('#run-error')).toBe(true);
      expect(s.runs.map((r) => [r.status, r.losses.length])).toEqual([['done', 8], ['done', 8]]);
      expect(s.runs.every((r) => r.losses.every(Number.isFinite))).toBe(true);
    }
    await page.close();
  });

  it('trains with an uploaded .safetensors theta (learnable Adam, lr 0.05) on the 2-D quadratic', async () => {
    const lopt = learnableAdam({ learningRate: 0.05 });
    const theta = lopt.init(key(0));
    const bytes = saveLearnedOptimizer(lopt, theta);
    const page = await open();
    await page.setInputFiles('#theta-file', { name: 'adam.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(bytes) });
    await page.waitForFunction(() => (window as unknown as Win).__playground.theta !== undefined, undefined, { timeout: 30_000 });
    expect(await page.textContent('#upload-status')).toContain('learnableAdam');
    await page.selectOption('#task', 'quadratic');
    await page.fill('#steps', '60');
    await page.uncheck('input[data-opt="adam"]');
    await page.uncheck('input[data-opt="celo"]');
    await page.check('input[data-opt="uploaded"]');
    await page.click('#start');
    await page.waitForFunction(() => (window as unknown as Win).__playground.runs.every((r) => r.status === 'done' || r.status === 'error'), undefined, { timeout: 60_000 });
    const run = (await pageState(page)).runs[0] as PlaygroundState['runs'][number];
    expect(run.status).toBe('done');
    // sum(p^2) from N(0, I) in 2-D: Adam with lr 0.05 moves each coordinate ~0.05 a step toward 0
    expect(run.losses[59] as number).toBeLessThan(0.1 * (run.losses[0] as number));
    await page.close();
  });
});
