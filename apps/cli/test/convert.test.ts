import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { key } from '@lopt/core';
import { learnableSgd, saveLearnedOptimizer } from '@lopt/learned';
import { expectBadInput, pretrainedDir, runCli, tempDir, type CliRun } from './helpers.js';

// `lopt convert` error paths (nothing is written to stdout). The conversions themselves are in
// convert-pretrained.test.ts.

/** Bad input (see expectBadInput), and nothing on stdout. */
function rejected(run: CliRun, problem: RegExp, fix: RegExp): void {
  expectBadInput(run, problem, fix);
  expect(run.stdout).toBe('');
}

function celo2Bytes(): Uint8Array {
  return new Uint8Array(readFileSync(join(pretrainedDir(), 'celo2', 'celo2_weights.pt')));
}

/** Replaces `from` by `to` (same length) in a stored zip entry and fixes its CRC-32 in both headers. */
function patchEntry(zip: Uint8Array, entryStart: number, entryLength: number, from: string, to: string): Uint8Array {
  const out = zip.slice();
  const data = out.subarray(entryStart, entryStart + entryLength);
  const at = Buffer.from(data).indexOf(from);
  expect(at).toBeGreaterThanOrEqual(0);
  data.set(new TextEncoder().encode(to), at);
  const oldCrc = crc32(zip.subarray(entryStart, entryStart + entryLength));
  const view = new DataView(out.buffer);
  for (let i = 0; i + 4 <= out.length; i++) if (view.getUint32(i, true) === oldCrc) view.setUint32(i, crc32(data), true);
  return out;
}

let dir: string;
beforeAll(() => {
  dir = tempDir('lopt-cli-convert-');
  const pt = celo2Bytes();
  writeFileSync(join(dir, 'truncated.pt'), pt.subarray(0, 4000));
  // data.pkl is the first entry: local header of 30 + 22 (name) + 12 (extra) bytes, then 1608 bytes of pickle.
  expect(new TextDecoder().decode(pt.subarray(30, 52))).toBe('celo2_weights/data.pkl');
  writeFileSync(join(dir, 'evil.pt'), patchEntry(pt, 64, 1608, 'collections\nOrderedDict\n', 'subprocess\ncheck_output\n'));
  writeFileSync(join(dir, 'notes.txt'), 'not a checkpoint\n');
  const sgd = learnableSgd();
  writeFileSync(join(dir, 'lopt.safetensors'), saveLearnedOptimizer(sgd, sgd.init(key(0))));
  mkdirSync(join(dir, 'a-dir'));
  execFileSync('mkfifo', [join(dir, 'pipe')]);
  writeFileSync(join(dir, 'huge.pt'), '');
  truncateSync(join(dir, 'huge.pt'), 300 * 1024 * 1024); // sparse: no disk used
});

const FIX = /Pass a published file as released: Celo or Celo-Adam theta\.state/;

describe.concurrent('lopt convert rejects bad input with exit code 2 and one paragraph', () => {
  it('a missing file', async () => {
    rejected(await runCli(['convert', join(dir, 'nope.pt')]), /The file '.*nope\.pt' does not exist\./, /Check the path/);
  });

  it('special files: /dev/zero, a named pipe, a directory', async () => {
    const [zero, pipe, folder] = await Promise.all([runCli(['convert', '/dev/zero']), runCli(['convert', join(dir, 'pipe')]), runCli(['convert', join(dir, 'a-dir')])]);
    rejected(zero, /'\/dev\/zero' is a character device, not a regular file\./, /Pass the checkpoint file itself/);
    rejected(pipe, /'.*pipe' is a named pipe, not a regular file\./, /Pass the checkpoint file itself/);
    rejected(folder, /'.*a-dir' is a directory, not a regular file\./, /Pass the checkpoint file itself/);
  });

  it('a file that is not a checkpoint, and a lopt checkpoint', async () => {
    const [text, st] = await Promise.all([runCli(['convert', join(dir, 'notes.txt')]), runCli(['convert', join(dir, 'lopt.safetensors')])]);
    rejected(text, /notes\.txt: Not a reference checkpoint: neither a PyTorch zip state_dict/, FIX);
    rejected(st, /This is a safetensors file \(perhaps already a lopt checkpoint\)/, /needs no conversion/);
  });

  it('a truncated file and a pickle that names subprocess.check_output', async () => {
    const [cut, evil] = await Promise.all([runCli(['convert', join(dir, 'truncated.pt'), '--out', join(dir, 'o1.safetensors')]), runCli(['convert', join(dir, 'evil.pt'), '--out', join(dir, 'o2.safetensors')])]);
    rejected(cut, /truncated\.pt: Not a valid zip archive: no end-of-central-directory record \(truncated, or not a zip archive\)/, FIX);
    rejected(evil, /evil\.pt: Not a valid PyTorch state_dict pickle \(data\.pkl\): GLOBAL subprocess\.check_output is not allowed.*nothing in the file is imported or executed/, FIX);
  });

  it('a file above the size cap, and --out naming the input file', async () => {
    const pt = join(dir, 'celo2.pt');
    writeFileSync(pt, celo2Bytes());
    const [huge, same] = await Promise.all([runCli(['convert', join(dir, 'huge.pt')]), runCli(['convert', pt, '--out', pt])]);
    rejected(huge, /'.*huge\.pt' is 314572800 bytes, more than the 268435456-byte limit for reference checkpoints\./, /they are far smaller/);
    rejected(same, /--out '.*celo2\.pt' is the input file\./, /Choose another output path/);
    expect(new Uint8Array(readFileSync(pt))).toEqual(celo2Bytes());
  });
});

describe('lopt convert --help', () => {
  it('documents the command without starting a backend, and lopt --help lists it', async () => {
    const [help, top] = await Promise.all([runCli(['convert', '--help']), runCli(['--help'])]);
    expect([help.code, help.stderr]).toEqual([0, '']);
    for (const w of ['<file>', '--out', 'theta.state', 'celo2_weights.pt', 'nothing in it is executed']) expect(help.stdout).toContain(w);
    expect(top.stdout).toMatch(/\n\s+convert \[options\] <file>/);
  });
});
