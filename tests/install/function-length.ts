// Lists the functions of the packages' sources that are longer than a limit (issue #18: no
// function over 80 lines in packages/*/src outside generated or kernel code). Uses the
// TypeScript compiler API (already a dev dependency), so a function is what the parser says it is:
// declarations, expressions, arrows, methods, accessors and constructors, nested ones included.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/** One function that is too long. */
export interface LongFunction {
  /** Path relative to the repository root, with `/` separators. */
  readonly file: string;
  /** A readable name: the declared name, or the variable/property it is assigned to, or `<anonymous>`. */
  readonly name: string;
  /** First line (1-based). */
  readonly line: number;
  /** Number of lines from the first to the last line of the function. */
  readonly lines: number;
}

/** The line limit of issue #18. */
export const MAX_FUNCTION_LINES = 80;

/**
 * Functions allowed to stay longer than the limit, as `path#name`. Empty: every function of
 * `packages/<name>/src` (generated and kernel code aside) fits; add one only with a reason here.
 */
export const FUNCTION_LENGTH_EXEMPTIONS: readonly string[] = [];

/** Source files that are generated or kernel code (not checked), as path fragments. */
const EXCLUDED_FRAGMENTS = ['/kernels/', '/generated/', '.generated.', '-wasm-binary', '.test.ts'];

function nameOf(node: ts.Node): string {
  const named = node as { name?: ts.Node };
  if (named.name && (ts.isIdentifier(named.name) || ts.isStringLiteral(named.name) || ts.isPrivateIdentifier(named.name))) return named.name.text;
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return '<anonymous>';
}

function isFunctionLike(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isArrowFunction(node) || ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node);
}

/** The functions of one source text longer than `max` lines. */
export function longFunctionsInSource(file: string, text: string, max = MAX_FUNCTION_LINES): LongFunction[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (isFunctionLike(node) && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > max) out.push({ file, name: nameOf(node), line: first + 1, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The long functions of every `packages/<name>/src` below `root`, generated and kernel code left out. */
export function longFunctions(root: string, max = MAX_FUNCTION_LINES): LongFunction[] {
  const out: LongFunction[] = [];
  const packages = join(root, 'packages');
  for (const pkg of readdirSync(packages).sort()) {
    const src = join(packages, pkg, 'src');
    if (!statSync(join(packages, pkg)).isDirectory() || !safeIsDir(src)) continue;
    for (const file of sourceFiles(src).sort()) {
      const rel = relative(root, file).split('\\').join('/');
      if (EXCLUDED_FRAGMENTS.some((f) => rel.includes(f))) continue;
      out.push(...longFunctionsInSource(rel, readFileSync(file, 'utf8'), max));
    }
  }
  return out;
}

function safeIsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Splits `found` into the exempted functions and the rest (by `path#name`). */
export function partitionExempt(found: readonly LongFunction[], exemptions: readonly string[] = FUNCTION_LENGTH_EXEMPTIONS): { exempt: LongFunction[]; offending: LongFunction[] } {
  const exempt: LongFunction[] = [];
  const offending: LongFunction[] = [];
  for (const f of found) (exemptions.includes(`${f.file}#${f.name}`) ? exempt : offending).push(f);
  return { exempt, offending };
}
