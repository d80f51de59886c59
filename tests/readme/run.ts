// Runs a snippet as a user would: its own Node process (tsx), no backend started for it,
// `@lopt/*` resolved to the workspace sources through the root tsconfig's paths.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { snippetId, type Snippet } from './extract.ts';

/** What a snippet's process did. */
export interface RunResult {
  /** Exit code, or null when it was killed (timed out). */
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly ms: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `s` in a child process, killed after `timeoutMs`. */
export async function runSnippet(root: string, s: Snippet, timeoutMs: number): Promise<RunResult> {
  const dir = join(root, 'tests', 'readme', '.run', snippetId(s));
  const file = join(dir, 'snippet.ts');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, s.code);
  const env: NodeJS.ProcessEnv = { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.base.json') };
  delete env.LOPT_BACKEND; // the snippet's own initBackend() call decides, as for a user
  env.LOPT_PRETRAINED_DIR ??= join(root, '..', 'shared', 'pretrained'); // the published checkpoints beside the clone
  const start = Date.now();
  try {
    return await new Promise<RunResult>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, timedOut, ms: Date.now() - start, stdout, stderr });
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
