import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex } from '@noble/hashes/utils';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deserializeTree, serializeTree } from './checkpoint.js';
import { LoptError } from './errors.js';
import { loadTree, saveTree } from './node.js';
import { disposeTree, treeLeaves, treePaths, type TensorTree } from './tree.js';

const tree = (): TensorTree => ({
  theta: { w: tf.tensor2d([[1.5, -2], [3, 4e-8]]), b: tf.tensor1d([NaN, Infinity, -0]) },
  counts: tf.tensor1d([1, -7, 2 ** 30], 'int32'),
  flags: [tf.tensor1d([true, false, true], 'bool')],
  empty: tf.zeros([0, 3]),
});
const meta = { kind: 'learned-optimizer', name: 'mlpLOpt', config: { hidden: [32, 32] }, extra: { step: 7 } };

/** Parses the safetensors layout independently of our reader. */
function parseSafetensors(bytes: Uint8Array): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  return { header, data: bytes.subarray(8 + n) };
}

describe('checkpoint format', () => {
  it('round-trips values, dtypes, shapes and metadata', () => {
    const t = tree();
    const bytes = serializeTree(t, meta);
    const { tree: back, metadata } = deserializeTree(bytes, { kind: 'learned-optimizer', name: 'mlpLOpt' });
    expect(treePaths(back)).toEqual(treePaths(t));
    treeLeaves(t).forEach((x, i) => {
      const y = treeLeaves(back)[i] as tf.Tensor;
      expect(y.dtype).toBe(x.dtype);
      expect(y.shape).toEqual(x.shape);
      expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    });
    expect(metadata.config).toEqual({ hidden: [32, 32] });
    expect(metadata.extra).toEqual({ step: 7 });
    expect(metadata.formatVersion).toBe(1);
    expect(metadata.sha256).toMatch(/^[0-9a-f]{64}$/);
    disposeTree([t, back]);
  });

  it('reads the same tree from a Node Buffer (readFileSync) and from a view into a larger buffer', () => {
    const t = tree();
    const bytes = serializeTree(t, meta);
    // Buffer.slice shares its parent's ArrayBuffer; a view at an offset inside a pool is the same case.
    const pool = new Uint8Array(bytes.length + 24);
    pool.set(bytes, 16);
    for (const input of [Buffer.from(bytes), Buffer.from(pool.buffer, 16, bytes.length), pool.subarray(16, 16 + bytes.length)]) {
      const { tree: back } = deserializeTree(input);
      treeLeaves(t).forEach((x, i) => {
        const y = treeLeaves(back)[i] as tf.Tensor;
        expect(y.shape).toEqual(x.shape);
        expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
      });
      disposeTree(back);
    }
    disposeTree(t);
  });

  it('is the safetensors layout: header length, aligned JSON header, contiguous little-endian data', () => {
    const t = { a: tf.tensor1d([1, 2]), b: tf.tensor2d([[3]], [1, 1], 'int32') };
    const bytes = serializeTree(t, meta);
    const { header, data } = parseSafetensors(bytes);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const { __metadata__: m, ...tensors } = header as Record<string, unknown>;
    expect(Object.values(m as Record<string, unknown>).every((v) => typeof v === 'string')).toBe(true);
    expect(tensors).toEqual({
      '0:a': { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      '1:b': { dtype: 'I32', shape: [1, 1], data_offsets: [8, 12] },
    });
    const dv = new DataView(data.buffer, data.byteOffset);
    expect([dv.getFloat32(0, true), dv.getFloat32(4, true), dv.getInt32(8, true)]).toEqual([1, 2, 3]);
    disposeTree(t);
  });

  it('names the failed check for truncation and expectation mismatches', () => {
    const t = tree();
    const bytes = serializeTree(t, meta);
    expect(() => deserializeTree(bytes.subarray(0, 5))).toThrow(/length check/);
    expect(() => deserializeTree(bytes.subarray(0, bytes.length - 1))).toThrow(/data length check/);
    expect(() => deserializeTree(bytes, { name: 'adafacMlpLOpt' })).toThrow(/'mlpLOpt' but 'adafacMlpLOpt'/);
    try {
      deserializeTree(bytes, { kind: 'optimizer-state' });
    } catch (e) {
      expect((e as LoptError).code).toBe('CHECKPOINT_MISMATCH');
    }
    const notOurs = new TextEncoder().encode('{"__metadata__":{"format":"pt"}}');
    const raw = new Uint8Array(8 + notOurs.length);
    new DataView(raw.buffer).setUint32(0, notOurs.length, true);
    raw.set(notOurs, 8);
    expect(() => deserializeTree(raw)).toThrow(/format check/);
    disposeTree(t);
  });

  it('never returns a silently wrong tree when a byte is corrupted (property)', () => {
    const t = tree();
    const bytes = serializeTree(t, meta);
    const original = deserializeTree(bytes);
    const reference = JSON.stringify({
      m: original.metadata,
      v: treeLeaves(original.tree).map((x) => Array.from(x.dataSync()).map(String)),
      s: treeLeaves(original.tree).map((x) => x.shape),
    });
    disposeTree(original.tree);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (offset, xor) => {
        const bad = bytes.slice();
        bad[offset] = (bad[offset] as number) ^ xor;
        let result: ReturnType<typeof deserializeTree>;
        try {
          result = deserializeTree(bad);
        } catch (e) {
          return e instanceof LoptError && (e.code === 'CHECKPOINT_INVALID' || e.code === 'CHECKPOINT_MISMATCH');
        }
        // Accepted only if it decodes to exactly the same tree (e.g. a flipped padding space).
        const same =
          JSON.stringify({
            m: result.metadata,
            v: treeLeaves(result.tree).map((x) => Array.from(x.dataSync()).map(String)),
            s: treeLeaves(result.tree).map((x) => x.shape),
          }) === reference;
        disposeTree(result.tree);
        return same;
      }),
      { numRuns: 600 },
    );
    disposeTree(t);
  });

  it('tampered headers with a recomputed (valid) hash: rejected, or read exactly as claimed, never allocating beyond the file (property)', () => {
    const t = tree();
    const bytes = serializeTree(t, meta);
    disposeTree(t);
    const { header, data } = parseSafetensors(bytes);
    const { __metadata__: m, ...tensors } = header as unknown as { __metadata__: Record<string, string> } & Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    const names = Object.keys(tensors);
    /** Writes a header and data with the sha256 recomputed as serializeTree does. */
    const reseal = (entries: Record<string, unknown>, metadata: Record<string, string>): Uint8Array => {
      const { sha256: _old, ...bare } = metadata;
      const h = sha256.create();
      h.update(new TextEncoder().encode(JSON.stringify({ __metadata__: bare, ...entries })));
      h.update(data);
      const json = new TextEncoder().encode(JSON.stringify({ __metadata__: { ...bare, sha256: bytesToHex(h.digest()) }, ...entries }));
      const out = new Uint8Array(8 + json.length + data.length);
      new DataView(out.buffer).setUint32(0, json.length, true);
      out.set(json, 8);
      out.set(data, 8 + json.length);
      return out;
    };
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('shape' as const), dims: fc.array(fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 2 ** 20, max: 2 ** 52 })), { maxLength: 4 }) }),
      fc.record({ kind: fc.constant('dtype' as const), dtype: fc.constantFrom('F64', 'F16', 'I32', 'BOOL', 'U8', 'I64', 'F32', 'bogus') }),
      fc.record({ kind: fc.constant('swap' as const), other: fc.nat() }),
      fc.record({ kind: fc.constant('structure' as const), extra: fc.integer({ min: -2, max: 2 }) }),
    );
    fc.assert(
      fc.property(fc.nat(), edit, (pick, e) => {
        const name = names[pick % names.length] as string;
        const entries = JSON.parse(JSON.stringify(tensors)) as typeof tensors;
        const metadata = { ...m };
        const target = entries[name] as (typeof tensors)[string];
        if (e.kind === 'shape') target.shape = e.dims;
        if (e.kind === 'dtype') target.dtype = e.dtype;
        if (e.kind === 'swap') {
          const other = entries[names[e.other % names.length] as string] as (typeof tensors)[string];
          [target.data_offsets, other.data_offsets] = [other.data_offsets, target.data_offsets];
        }
        if (e.kind === 'structure') metadata.structure = JSON.stringify(Array.from({ length: Math.max(0, names.length + e.extra) }, () => null));
        let result: ReturnType<typeof deserializeTree>;
        try {
          result = deserializeTree(reseal(entries, metadata));
        } catch (err) {
          return err instanceof LoptError && (err.code === 'CHECKPOINT_INVALID' || err.code === 'CHECKPOINT_MISMATCH');
        }
        // Accepted: every tensor is what the (resealed) header claims, and together they fit in the file's data.
        const leaves = treeLeaves(result.tree);
        const claimed = Object.entries(entries).sort(([a], [b]) => Number(a.split(':')[0]) - Number(b.split(':')[0]));
        const bytesHeld = leaves.reduce((s, x) => s + x.size * (x.dtype === 'bool' ? 1 : 4), 0);
        const asClaimed = claimed.every(([, c], i) => JSON.stringify(leaves[i]?.shape) === JSON.stringify(c.shape));
        const ok = bytesHeld === data.length && leaves.length === claimed.length && asClaimed;
        disposeTree(result.tree);
        return ok;
      }),
      { numRuns: 400 },
    );
  });

  it('rejects bad metadata and unsupported dtypes', () => {
    const x = tf.scalar(1);
    expect(() => serializeTree(x, { kind: '', name: 'a' })).toThrow(/'kind'/);
    const c = tf.tensor1d(['text']);
    expect(() => serializeTree({ z: c }, meta)).toThrow(/'z' of dtype string/);
    tf.dispose([x, c]);
  });
});

describe('checkpoint files (@lopt/core/node)', () => {
  it('saves atomically and loads back; leaves no temporary files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lopt-ckpt-'));
    const path = join(dir, 'nested', 'theta.safetensors');
    const t = tree();
    await saveTree(path, t, meta);
    await saveTree(path, t, meta); // overwrite in place
    expect(readdirSync(join(dir, 'nested'))).toEqual(['theta.safetensors']);
    const { tree: back } = await loadTree(path, { kind: 'learned-optimizer' });
    expect(treePaths(back)).toEqual(treePaths(t));
    const bytes = readFileSync(path);
    bytes[bytes.length - 2] = (bytes[bytes.length - 2] as number) ^ 0xff;
    writeFileSync(path, bytes);
    await expect(loadTree(path)).rejects.toThrow(/sha256 check failed/);
    await expect(loadTree(join(dir, 'missing.safetensors'))).rejects.toThrow(/does not exist/);
    disposeTree([t, back]);
  });

  it('reports a non-writable destination as IO_ERROR', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lopt-ro-'));
    chmodSync(dir, 0o500);
    const x = tf.scalar(1);
    const isRoot = process.getuid?.() === 0;
    const attempt = saveTree(join(dir, 'a.safetensors'), x, meta);
    if (isRoot) await attempt; // root ignores permissions; the write must still succeed
    else await expect(attempt).rejects.toMatchObject({ code: 'IO_ERROR' });
    // A folder that cannot exist: its parent is a regular file.
    const file = join(dir, '..', `lopt-file-${process.pid}`);
    writeFileSync(file, 'x');
    await expect(saveTree(join(file, 'sub', 'a.safetensors'), x, meta)).rejects.toMatchObject({ code: 'IO_ERROR' });
    x.dispose();
  });
});

describe('reading checkpoint files (issue 14, items 3 and 10)', () => {
  it('loadTree refuses devices and directories, and files over the cap, with IO_ERROR naming the path', async () => {
    const { readRegularFile } = await import('./node.js');
    await expect(loadTree('/dev/zero')).rejects.toThrow(expect.objectContaining({ code: 'IO_ERROR', message: "Could not read '/dev/zero': it is a device, not a regular file." }));
    const dir = mkdtempSync(join(tmpdir(), 'lopt-read-'));
    await expect(loadTree(dir)).rejects.toThrow(/it is a directory, not a regular file/);
    const file = join(dir, 'x.bin');
    writeFileSync(file, new Uint8Array(10));
    expect((await readRegularFile(file, 10)).length).toBe(10);
    await expect(readRegularFile(file, 9)).rejects.toThrow(/it has 10 bytes, more than the limit of 9 bytes/);
    await expect(readRegularFile(join(dir, 'missing'))).rejects.toThrow(/does not exist/);
  });
});
