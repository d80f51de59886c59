// Typechecks snippets under `strict` with the TypeScript compiler API: each snippet is a
// module of its own (a virtual file), `@lopt/*` resolves to the workspace sources through the
// root tsconfig's `paths` (no build needed, never stale), everything else from node_modules.
import { join } from 'node:path';
import ts from 'typescript';
import { snippetId, type Snippet } from './extract.ts';

/** A diagnostic of one snippet, located in its Markdown file. */
export interface SnippetDiagnostic {
  /** `packages/core/README.md:34:7` */
  readonly where: string;
  /** `TS2345: Argument of type ...` */
  readonly message: string;
}

/** The compiler options a user's `strict` project would have, plus the workspace `paths`. */
function compilerOptions(root: string): ts.CompilerOptions {
  const base = ts.readConfigFile(join(root, 'tsconfig.base.json'), ts.sys.readFile);
  if (base.error) throw new Error(ts.flattenDiagnosticMessageText(base.error.messageText, '\n'));
  const paths = (base.config as { compilerOptions: { paths: ts.MapLike<string[]> } }).compilerOptions.paths;
  return {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    resolveJsonModule: true,
    baseUrl: root,
    paths,
  };
}

/** Where the virtual file of a snippet lives (inside the repository, so node_modules resolve). */
export function virtualPath(root: string, s: Snippet): string {
  return join(root, 'tests', 'readme', '.snippets', `${snippetId(s)}.ts`);
}

/** Typechecks every snippet in one program; returns the diagnostics of each, by snippet id. */
export function typecheckSnippets(root: string, snippets: readonly Snippet[]): Map<string, SnippetDiagnostic[]> {
  const options = compilerOptions(root);
  const virtual = new Map(snippets.map((s) => [virtualPath(root, s), s]));
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f);
  host.readFile = (f) => virtual.get(f)?.code ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, onError, create) => {
    const s = virtual.get(f);
    return s ? ts.createSourceFile(f, s.code, lang, true, ts.ScriptKind.TS) : getSourceFile.call(host, f, lang, onError, create);
  };
  host.getCurrentDirectory = () => root;
  const program = ts.createProgram([...virtual.keys()], options, host);
  const result = new Map<string, SnippetDiagnostic[]>();
  for (const [path, s] of virtual) {
    const sf = program.getSourceFile(path);
    if (sf === undefined) throw new Error(`${s.file}:${s.line}: the snippet was not compiled`);
    const diags = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    result.set(snippetId(s), diags.map((d) => locate(s, d)));
  }
  return result;
}

/** A diagnostic with its position mapped from the virtual file to the Markdown file. */
function locate(s: Snippet, d: ts.Diagnostic): SnippetDiagnostic {
  const pos = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : { line: 0, character: 0 };
  return {
    where: `${s.file}:${s.line + pos.line}:${pos.character + 1}`,
    message: `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
  };
}
