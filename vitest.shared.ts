import { readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

/** Source aliases: tests run against each workspace package's src, no build needed. */
function sourceAliases(): { find: string; replacement: string }[] {
  const aliases: { find: string; replacement: string }[] = [];
  const dir = join(root, 'packages');
  for (const name of readdirSync(dir)) {
    const src = join(dir, name, 'src');
    if (!existsSync(join(src, 'index.ts'))) continue;
    if (existsSync(join(src, 'node.ts'))) {
      aliases.push({ find: `@lopt/${name}/node`, replacement: join(src, 'node.ts') });
    }
    aliases.push({ find: `@lopt/${name}`, replacement: join(src, 'index.ts') });
  }
  return aliases;
}

/** The vitest project config every package uses. */
export function loptProject(name: string, extra: UserWorkspaceConfig['test'] = {}): UserWorkspaceConfig {
  return defineProject({
    resolve: { alias: sourceAliases() },
    test: {
      name,
      environment: 'node',
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      setupFiles: [resolve(root, 'vitest.setup.ts')],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      pool: 'forks',
      ...extra,
    },
  });
}
