#!/usr/bin/env node
// End-to-end install check (slow: ~1-2 min, needs the npm registry for tfjs and the CLI's other
// dependencies; run `pnpm build` first). Packs every published lopt package, then:
//   1. global: `npm install -g` of the @lopt/cli tarball alone, its @lopt/* dependencies pointed
//      at the packed tarballs (as the registry would serve them), into a temporary prefix;
//   2. project: `npm install` of every library tarball plus @tensorflow/tfjs into a fresh project,
//      then a script that imports every library and starts the backend.
// Each must hold exactly one @tensorflow/tfjs-core, run without tfjs' "Platform node has already
// been set" warning (printed when a second tfjs-core copy loads), and exit 0.
// `--siblings` also installs every tarball as its own global package (what a user gets from
// `npm install -g @lopt/cli @lopt/core ...`) and reports, without failing, how many copies that gives.
// Usage: pnpm check:install [-- --siblings] [-- --keep]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const WARNING = /already been set/i;

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (opts.check !== false && r.status !== 0) {
    throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}:\n${(r.stdout ?? '') + (r.stderr ?? '')}`.slice(-4000));
  }
  return r;
}

/** Published workspace packages: [name, dir]. */
function publishedPackages() {
  const out = [];
  for (const folder of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, folder)).sort()) {
      const file = join(root, folder, name, 'package.json');
      if (!existsSync(file)) continue;
      const m = JSON.parse(readFileSync(file, 'utf8'));
      if (m.private === true || m.name === '@lopt/testkit') continue; // testkit: a dev tool, not needed here
      if (!existsSync(join(root, folder, name, 'dist'))) throw new Error(`${folder}/${name}/dist is missing: run pnpm build first`);
      out.push([m.name, join(root, folder, name)]);
    }
  }
  return out;
}

/** Every tfjs-core copy under `dir` (its package.json paths). */
function tfjsCoreCopies(dir) {
  const found = [];
  const walk = (d, depth) => {
    if (depth > 12 || !existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (!statSync(p).isDirectory()) continue;
      if (p.endsWith(join('node_modules', '@tensorflow', 'tfjs-core'))) found.push(p);
      else walk(p, depth + 1);
    }
  };
  walk(dir, 0);
  return found.map((p) => p.slice(dir.length));
}

function pack(tmp) {
  const dest = join(tmp, 'tgz');
  mkdirSync(dest, { recursive: true });
  const tarballs = new Map();
  for (const [name, dir] of publishedPackages()) {
    run('pnpm', ['pack', '--pack-destination', dest], { cwd: dir });
    tarballs.set(name, join(dest, `${name.replace('@', '').replace('/', '-')}-${JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version}.tgz`));
  }
  for (const t of tarballs.values()) if (!existsSync(t)) throw new Error(`pnpm pack did not write ${t}`);
  return tarballs;
}

/** The CLI tarball with its @lopt/* dependencies pointed at the packed tarballs. */
function cliTarballWithLocalDeps(tmp, tarballs) {
  const dir = join(tmp, 'cli');
  mkdirSync(dir, { recursive: true });
  run('tar', ['xzf', tarballs.get('@lopt/cli'), '-C', dir]);
  const file = join(dir, 'package', 'package.json');
  const m = JSON.parse(readFileSync(file, 'utf8'));
  for (const d of Object.keys(m.dependencies)) if (tarballs.has(d)) m.dependencies[d] = `file:${tarballs.get(d)}`;
  writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`);
  const out = join(tmp, 'lopt-cli-local-deps.tgz');
  run('tar', ['czf', out, '-C', dir, 'package']);
  return out;
}

const npmInstall = ['--no-audit', '--no-fund', '--loglevel=error'];

function checkGlobal(tmp, tarballs) {
  const prefix = join(tmp, 'global');
  run('npm', ['install', '-g', '--prefix', prefix, ...npmInstall, cliTarballWithLocalDeps(tmp, tarballs)]);
  const lopt = join(prefix, 'bin', 'lopt');
  const runs = [['--help'], ['list', 'optimizer']].map((a) => ({ args: a, ...run(lopt, a, { check: false }) }));
  return { scenario: 'npm install -g @lopt/cli', copies: tfjsCoreCopies(prefix), runs };
}

function checkProject(tmp, tarballs) {
  const dir = join(tmp, 'project');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "name": "lopt-install-check", "private": true, "type": "module" }\n');
  const libs = [...tarballs].filter(([n]) => n !== '@lopt/cli');
  const tfjsVersion = JSON.parse(readFileSync(join(root, 'packages', 'core', 'node_modules', '@tensorflow', 'tfjs-core', 'package.json'), 'utf8')).version;
  run('npm', ['install', ...npmInstall, ...libs.map(([, t]) => t), `@tensorflow/tfjs@${tfjsVersion}`, `@tensorflow/tfjs-core@${tfjsVersion}`], { cwd: dir });
  const script = [
    "import { initBackend } from '@lopt/backend';",
    "import { key, normal } from '@lopt/core';",
    ...libs.filter(([n]) => !['@lopt/backend', '@lopt/core'].includes(n)).map(([n], i) => `import * as m${i} from '${n}';`),
    'const info = await initBackend();',
    'console.log(info.name, normal(key(0), [2]).shape);',
  ].join('\n');
  writeFileSync(join(dir, 'check.mjs'), `${script}\n`);
  const runs = [{ args: ['node', 'check.mjs'], ...run(process.execPath, ['check.mjs'], { cwd: dir, check: false }) }];
  return { scenario: `npm install ${libs.map(([n]) => n).join(' ')} @tensorflow/tfjs`, copies: tfjsCoreCopies(dir), runs };
}

function checkSiblings(tmp, tarballs) {
  const prefix = join(tmp, 'siblings');
  run('npm', ['install', '-g', '--prefix', prefix, ...npmInstall, ...tarballs.values()]);
  const runs = [{ args: ['list', 'optimizer'], ...run(join(prefix, 'bin', 'lopt'), ['list', 'optimizer'], { check: false }) }];
  return { scenario: 'npm install -g <every lopt package as its own global package> (informational)', copies: tfjsCoreCopies(prefix), runs, informational: true };
}

function report(r) {
  const warned = r.runs.filter((x) => WARNING.test(`${x.stdout}${x.stderr}`));
  const failedRuns = r.runs.filter((x) => x.status !== 0);
  const ok = r.copies.length === 1 && warned.length === 0 && failedRuns.length === 0;
  console.log(`\n${ok ? 'ok  ' : r.informational ? 'note' : 'FAIL'} ${r.scenario}`);
  console.log(`     tfjs-core copies: ${r.copies.length}${r.copies.length === 1 ? '' : `\n       ${r.copies.join('\n       ')}`}`);
  for (const x of r.runs) {
    const n = `${x.stdout}${x.stderr}`.split('\n').filter((l) => WARNING.test(l)).length;
    console.log(`     ${x.args.join(' ')}: exit ${x.status}, "already been set" warnings: ${n}`);
    if (x.status !== 0) console.log(`${x.stdout}${x.stderr}`.slice(-2000));
  }
  return ok || r.informational === true;
}

const tmp = mkdtempSync(join(tmpdir(), 'lopt-install-'));
let ok = false;
try {
  const start = Date.now();
  const tarballs = pack(tmp);
  const results = [checkGlobal(tmp, tarballs), checkProject(tmp, tarballs)];
  if (args.includes('--siblings')) results.push(checkSiblings(tmp, tarballs));
  ok = results.map(report).every(Boolean);
  console.log(`\n${ok ? 'install check passed' : 'install check FAILED'} in ${((Date.now() - start) / 1000).toFixed(0)} s (node ${process.version}, npm ${run('npm', ['--version']).stdout.trim()})`);
} finally {
  if (args.includes('--keep')) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
