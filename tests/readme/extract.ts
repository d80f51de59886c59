// Finds the ```ts code blocks of the repository's Markdown files, with the line each starts on
// and the mode an HTML comment above it sets.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** How a snippet is checked: typechecked and run, or (marked in the Markdown) typechecked only. */
export type SnippetMode = 'run' | 'typecheck-only';

/** One ```ts block of a Markdown file. */
export interface Snippet {
  /** Markdown file, relative to the repository root (`packages/core/README.md`). */
  readonly file: string;
  /** 1-based line in `file` of the snippet's first code line. */
  readonly line: number;
  /** The code, with the fence's indentation removed. */
  readonly code: string;
  readonly mode: SnippetMode;
}

/** A fenced block that opens with a TypeScript info string. */
const TS_FENCE = /^(\s*)```(ts|typescript)\s*$/;
const CLOSE_FENCE = /^\s*```\s*$/;
/** `<!-- snippet: typecheck-only -->` (anything after the mode is a free-text reason). */
const MARKER = /^\s*<!--\s*snippet:\s*([\w-]+)[^>]*-->\s*$/;
const MODES: readonly string[] = ['run', 'typecheck-only'];

/** The Markdown files whose snippets are checked: the READMEs a user reads and CONTRIBUTING.md. */
export function markdownFiles(root: string): string[] {
  const files = ['README.md', 'CONTRIBUTING.md'];
  for (const dir of ['packages', 'apps', 'examples']) {
    if (!existsSync(join(root, dir))) continue;
    for (const name of readdirSync(join(root, dir)).sort()) {
      if (existsSync(join(root, dir, name, 'README.md'))) files.push(`${dir}/${name}/README.md`);
    }
  }
  return files.filter((f) => existsSync(join(root, f)));
}

/** The mode set by a marker on the nearest non-blank line above line index `i`. */
function modeAbove(lines: readonly string[], i: number, where: string): SnippetMode {
  let j = i - 1;
  while (j >= 0 && (lines[j] as string).trim() === '') j--;
  const m = j >= 0 ? MARKER.exec(lines[j] as string) : null;
  if (m === null) return 'run';
  const mode = m[1] as string;
  if (!MODES.includes(mode)) throw new Error(`${where}: unknown snippet marker '${mode}' (use one of: ${MODES.join(', ')})`);
  return mode as SnippetMode;
}

/** Every ```ts block of `text` (the contents of `file`). Throws on an unclosed block. */
export function extractSnippets(file: string, text: string): Snippet[] {
  const lines = text.split(/\r?\n/);
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = TS_FENCE.exec(lines[i] as string);
    if (open === null) continue;
    const indent = (open[1] as string).length;
    let end = i + 1;
    while (end < lines.length && !CLOSE_FENCE.test(lines[end] as string)) end++;
    if (end === lines.length) throw new Error(`${file}:${i + 1}: the \`\`\`ts block is never closed`);
    const code = lines.slice(i + 1, end).map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length))).join('\n');
    out.push({ file, line: i + 2, code: `${code}\n`, mode: modeAbove(lines, i, `${file}:${i + 1}`) });
    i = end;
  }
  return out;
}

/** The snippets of every checked Markdown file under `root`. */
export function allSnippets(root: string): Snippet[] {
  return markdownFiles(root).flatMap((f) => extractSnippets(f, readFileSync(join(root, f), 'utf8')));
}

/** A file-name-safe id for a snippet: `packages_core_README.md_L21`. */
export function snippetId(s: Snippet): string {
  return `${s.file.replace(/[^\w.-]/g, '_')}_L${s.line}`;
}
