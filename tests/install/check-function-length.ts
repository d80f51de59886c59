// `pnpm lint` step: lists the functions over 80 lines in packages/*/src (generated and kernel
// code left out) and exits 1 when any is outside the exemption list. `--list` only prints and
// always exits 0; `--root DIR` checks another tree (its test plants a long function there).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_FUNCTION_LINES, longFunctions, partitionExempt } from './function-length.ts';

const rootFlag = process.argv.indexOf('--root');
const root = rootFlag >= 0 ? resolve(process.argv[rootFlag + 1] ?? '.') : join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { exempt, offending } = partitionExempt(longFunctions(root));
for (const f of offending) console.log(`${f.file}:${f.line} ${f.name} ${f.lines} lines`);
for (const f of exempt) console.log(`${f.file}:${f.line} ${f.name} ${f.lines} lines (exempt)`);
console.log(`function length: ${offending.length} function(s) over ${MAX_FUNCTION_LINES} lines, ${exempt.length} exempt`);
if (offending.length > 0 && !process.argv.includes('--list')) process.exit(1);
