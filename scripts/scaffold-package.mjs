#!/usr/bin/env node
// Writes the boilerplate of one published workspace package (package.json, tsconfig,
// tsup and vitest configs) so that every package is shaped the same way.
// Usage: node scripts/scaffold-package.mjs <folder> "<description>" [dep ...] [--node-subpath]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [folder, description, ...rest] = process.argv.slice(2);
if (!folder || !description) {
  console.error('usage: scaffold-package.mjs <packages/name> "<description>" [@lopt/dep ...] [--node-subpath]');
  process.exit(2);
}
const nodeSubpath = rest.includes('--node-subpath');
const loptDeps = rest.filter((d) => d.startsWith('@lopt/'));
const short = folder.split('/').pop();
const name = `@lopt/${short}`;

const condition = (base) => ({
  import: { types: `./dist/${base}.d.ts`, default: `./dist/${base}.js` },
  require: { types: `./dist/${base}.d.cts`, default: `./dist/${base}.cjs` },
});
const exportsMap = { '.': condition('index') };
if (nodeSubpath) exportsMap['./node'] = condition('node');
exportsMap['./package.json'] = './package.json';

const peer = { '@tensorflow/tfjs-core': '^4.22.0' };
const dev = { '@tensorflow/tfjs-core': 'catalog:' };
for (const d of loptDeps) {
  peer[d] = 'workspace:^';
  dev[d] = 'workspace:*';
}
const pkg = {
  name,
  version: '0.1.0',
  description,
  license: 'Apache-2.0',
  type: 'module',
  sideEffects: false,
  main: './dist/index.cjs',
  module: './dist/index.js',
  types: './dist/index.d.cts',
  exports: exportsMap,
  files: ['dist', 'README.md', 'LICENSE'],
  engines: { node: '>=20.19' },
  repository: { type: 'git', url: 'git+https://github.com/lopt-dev/lopt.git', directory: folder },
  keywords: ['learned-optimization', 'optimizer', 'tensorflowjs', 'meta-learning'],
  scripts: {
    build: 'tsup',
    typecheck: 'tsc --noEmit -p tsconfig.json',
    lint: 'publint --strict',
  },
  peerDependencies: peer,
  devDependencies: dev,
  publishConfig: { access: 'public' },
};
mkdirSync(join(folder, 'src'), { recursive: true });
const write = (file, text) => {
  if (!existsSync(join(folder, file))) writeFileSync(join(folder, file), text);
};
write('package.json', JSON.stringify(pkg, null, 2) + '\n');
write('tsconfig.json', JSON.stringify({ extends: '../../tsconfig.base.json', compilerOptions: { baseUrl: '../..' }, include: ['src', '*.ts', 'bench'] }, null, 2) + '\n');
const entries = nodeSubpath ? "{ index: 'src/index.ts', node: 'src/node.ts' }" : '';
write('tsup.config.ts', `import { defineConfig } from 'tsup';\nimport { packageBuild } from '../../tsup.base.ts';\n\nexport default defineConfig(packageBuild(${entries}));\n`);
write('vitest.config.ts', `import { loptProject } from '../../vitest.shared.ts';\n\nexport default loptProject('${short}');\n`);
console.log(`scaffolded ${name} in ${folder}`);
