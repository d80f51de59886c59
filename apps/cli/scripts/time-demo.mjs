// Times `pnpm demo` (build of the CLI, then `lopt demo`) from an empty run cache under GNU time:
// wall seconds, user + system CPU seconds of the command and every worker process it waited
// for, peak memory, the load average before and after, and the demo's own table.json.
// Writes apps/cli/results/demo-v1.json (the README's demo table is rendered from it).
// Usage (repository root, after pnpm install): node apps/cli/scripts/time-demo.mjs [-- extra lopt demo flags]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'lopt-time-demo-'));
const extra = process.argv.slice(2).filter((a) => a !== '--');
const args = ['demo', '--cache', join(dir, 'cache'), '--out', join(dir, 'out'), ...extra];
const round = (l) => l.map((x) => Number(x.toFixed(2)));
const loadAverageStart = round(loadavg());
const date = new Date().toISOString();
const timeFile = join(dir, 'time.txt');
const r = spawnSync('/usr/bin/time', ['-o', timeFile, '-f', '%e %U %S %M', 'pnpm', ...args], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) throw new Error(`pnpm demo failed (exit ${r.status})`);
const [wall, user, system, rss] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
const result = {
  command: `pnpm ${args.join(' ').replaceAll(dir, '<tmp>')}`,
  date,
  cpus: cpus().length,
  loadAverageStart,
  loadAverageEnd: round(loadavg()),
  wallSeconds: wall,
  cpuSeconds: Number((user + system).toFixed(1)),
  maxRssMb: Math.round(rss / 1024),
  demo: JSON.parse(readFileSync(join(dir, 'out', 'demo', 'table.json'), 'utf8')),
};
const out = join(root, 'apps', 'cli', 'results', `${result.demo.suite}.json`);
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${out}: ${wall} s wall, ${result.cpuSeconds} CPU-s, load ${loadAverageStart.join(' ')} -> ${result.loadAverageEnd.join(' ')}`);
