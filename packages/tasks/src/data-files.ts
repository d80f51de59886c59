import { LoptError } from '@lopt/core';
import { MNIST_COUNT, MNIST_SIZE, mnistData, provideMnistData, type MnistData } from './mnist.js';
import { provideTextCorpus, textCorpus } from './text.js';

// The bundled data sets as static files a browser fetches lazily (no file system, no Node
// built-ins): an 8-byte magic, a little-endian uint32 count, 4 reserved bytes, then raw bytes.
// The files may be gzip-compressed; the loaders detect that and decompress.

const HEADER = 16;
/** Magic of an MNIST data file ({@link encodeMnistFile}). */
export const MNIST_FILE_MAGIC = 'LOPTMNS1';
/** Magic of a text-corpus data file ({@link encodeTextFile}). */
export const TEXT_FILE_MAGIC = 'LOPTTXT1';

function header(magic: string, count: number, body: number): Uint8Array {
  const out = new Uint8Array(HEADER + body);
  for (let i = 0; i < 8; i++) out[i] = magic.charCodeAt(i);
  new DataView(out.buffer).setUint32(8, count, true);
  return out;
}

function readHeader(bytes: Uint8Array, magic: string, what: string): number {
  const found = bytes.length >= HEADER ? String.fromCharCode(...bytes.subarray(0, 8)) : '';
  if (found !== magic) throw new LoptError('IO_ERROR', `Not a ${what} file: expected the magic '${magic}' in the first 8 bytes${bytes.length < HEADER ? ` (the file has only ${bytes.length} bytes)` : ''}.`);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
}

/** Encodes MNIST (default: the bundled digits) as a data file: header, `count * 784` pixel bytes, `count` labels. */
export function encodeMnistFile(data: MnistData = mnistData()): Uint8Array {
  const out = header(MNIST_FILE_MAGIC, data.count, data.images.length + data.labels.length);
  out.set(data.images, HEADER);
  out.set(data.labels, HEADER + data.images.length);
  return out;
}

/** Decodes an (uncompressed) MNIST data file; throws `IO_ERROR` for a wrong magic or length. */
export function decodeMnistFile(bytes: Uint8Array): MnistData {
  const count = readHeader(bytes, MNIST_FILE_MAGIC, 'MNIST data');
  const px = MNIST_SIZE * MNIST_SIZE;
  if (count !== MNIST_COUNT || bytes.length !== HEADER + count * (px + 1)) {
    throw new LoptError('IO_ERROR', `MNIST data file is truncated or malformed: ${bytes.length} bytes for ${count} digits (expected ${HEADER + MNIST_COUNT * (px + 1)}).`);
  }
  return { count, images: bytes.slice(HEADER, HEADER + count * px), labels: bytes.slice(HEADER + count * px) };
}

/** Encodes token ids (default: the bundled corpus) as a text data file. */
export function encodeTextFile(ids: Uint8Array = textCorpus()): Uint8Array {
  const out = header(TEXT_FILE_MAGIC, ids.length, ids.length);
  out.set(ids, HEADER);
  return out;
}

/** Decodes an (uncompressed) text data file into token ids; throws `IO_ERROR` for a wrong magic or length. */
export function decodeTextFile(bytes: Uint8Array): Uint8Array {
  const count = readHeader(bytes, TEXT_FILE_MAGIC, 'text corpus');
  if (bytes.length !== HEADER + count) throw new LoptError('IO_ERROR', `Text corpus file is truncated or malformed: ${bytes.length} bytes for ${count} tokens.`);
  return bytes.slice(HEADER);
}

/** Where a data file comes from: a URL (fetched) or its bytes. */
export type DataSource = string | URL | ArrayBuffer | Uint8Array;

/** Options of {@link loadMnist} and {@link loadTextCorpus}. */
export interface LoadDataOptions {
  /** The fetch function used for URLs. Default `globalThis.fetch`. */
  readonly fetch?: (url: string) => Promise<{ ok: boolean; status: number; arrayBuffer(): Promise<ArrayBuffer> }>;
}

async function readSource(source: DataSource, options: LoadDataOptions): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof source !== 'string' && !(source instanceof URL)) throw new LoptError('INVALID_OPTION', "Option 'source' must be a URL or the file's bytes.", { option: 'source' });
  const doFetch = options.fetch ?? globalThis.fetch;
  let res: Awaited<ReturnType<NonNullable<LoadDataOptions['fetch']>>>;
  try {
    res = await doFetch(String(source));
  } catch (e) {
    throw new LoptError('IO_ERROR', `Could not fetch ${String(source)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (!res.ok) throw new LoptError('IO_ERROR', `Could not fetch ${String(source)}: HTTP ${res.status}.`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Decompresses gzip data (detected by its magic bytes 1f 8b); other data is returned as is. */
async function gunzipIfNeeded(bytes: Uint8Array): Promise<Uint8Array> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new LoptError('IO_ERROR', `Corrupt gzip data: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * Loads MNIST from a data file (a URL, fetched, or bytes; gzip or not) and makes it the data
 * every MNIST task reads ({@link provideMnistData}). How a browser gets MNIST without the file
 * system: the app serves `encodeMnistFile()`'s output (gzipped: about 1.7 MB) as a static file.
 *
 * @example
 * ```ts
 * await loadMnist(new URL('data/mnist.bin.gz', location.href));
 * ```
 */
export async function loadMnist(source: DataSource, options: LoadDataOptions = {}): Promise<MnistData> {
  const data = decodeMnistFile(await gunzipIfNeeded(await readSource(source, options)));
  provideMnistData(data);
  return data;
}

/** Loads the text corpus from a data file (URL or bytes; gzip or not) for the text tasks ({@link provideTextCorpus}). */
export async function loadTextCorpus(source: DataSource, options: LoadDataOptions = {}): Promise<Uint8Array> {
  const ids = decodeTextFile(await gunzipIfNeeded(await readSource(source, options)));
  provideTextCorpus(ids);
  return ids;
}
