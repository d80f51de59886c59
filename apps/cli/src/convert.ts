import { createHash } from 'node:crypto';
import { basename, resolve } from 'node:path';
import { create, disposeTree, treeLeaves, type LearnedOptimizer } from '@lopt/core';
import { writeFileAtomic } from '@lopt/core/node';
import { referenceCheckpointToTheta, saveLearnedOptimizer } from '@lopt/learned';
import { startCommand, type CommonOptions } from './context.js';
import { CliError, isLoptError, withContext } from './errors.js';
import { readRegularFile } from './reference-file.js';


const FIX = 'Pass a published file as released: Celo or Celo-Adam theta.state (flax msgpack) or Celo2 celo2_weights.pt (PyTorch zip); a lopt .safetensors checkpoint needs no conversion.';

/** Options of {@link runConvert}. */
export interface ConvertOptions {
  /** Output file (default `<architecture>.safetensors` in the current directory). */
  readonly out?: string;
}

/**
 * `lopt convert <file>`: reads a published reference checkpoint (Celo or Celo-Adam
 * `theta.state`, Celo2 `celo2_weights.pt`) with `referenceCheckpointToTheta`, builds the
 * architecture it identifies from the registry (`create('learned-optimizer', name)`), and
 * writes a lopt checkpoint (kind `learned-optimizer`, the name and config in the metadata,
 * the source file's name, format and sha256 in `extra`) that `--optimizer <path>` loads.
 * Prints the written path on stdout.
 */
export async function runConvert(file: string, options: ConvertOptions, common: CommonOptions): Promise<string> {
  const bytes = readRegularFile(file);
  const ctx = await startCommand('convert', common);
  let converted: ReturnType<typeof referenceCheckpointToTheta>;
  try {
    converted = referenceCheckpointToTheta(bytes);
  } catch (e) {
    if (!isLoptError(e)) throw e;
    throw new CliError(`${file}: ${e.message}`, FIX, { cause: e });
  }
  const { architecture, format, theta } = converted;
  try {
    const out = resolve(options.out ?? `${architecture}.safetensors`);
    if (out === resolve(file)) throw new CliError(`--out '${out}' is the input file.`, 'Choose another output path; the reference file is kept as it is.');
    let lopt: LearnedOptimizer;
    try {
      lopt = create('learned-optimizer', architecture);
    } catch (e) {
      throw withContext(e, `${file} holds a ${architecture} checkpoint, but building ${architecture}`);
    }
    const source = { file: basename(file), format, sha256: createHash('sha256').update(bytes).digest('hex') };
    let checkpoint: Uint8Array;
    try {
      checkpoint = saveLearnedOptimizer(lopt, theta, { source });
    } catch (e) {
      throw withContext(e, `${file}: the registered ${architecture} does not take this theta`);
    }
    await writeFileAtomic(out, checkpoint);
    const params = treeLeaves(theta).reduce((n, t) => n + t.size, 0);
    ctx.log(`converted ${file}: ${architecture} (${format}, ${treeLeaves(theta).length} tensors, ${params} parameters) -> ${out}`);
    process.stdout.write(`${out}\n`);
    return out;
  } finally {
    disposeTree(theta);
  }
}
