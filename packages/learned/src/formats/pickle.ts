import { ByteReader } from './byte-reader.js';

const FORMAT = 'PyTorch state_dict pickle (data.pkl)';

/** The only globals a state_dict of float32 tensors refers to; any other is rejected. */
export const ALLOWED_GLOBALS: readonly string[] = ['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch.FloatStorage'];

/** A global the pickle named (one of {@link ALLOWED_GLOBALS}); never imported or called. */
export class PickleGlobal {
  constructor(readonly name: string) {}
}

/** A dict or OrderedDict with string keys (insertion order kept, duplicates rejected). */
export class PickleDict {
  readonly items = new Map<string, PickleValue>();
  constructor(readonly ordered: boolean) {}
}

/** A storage the pickle points to by persistent id: zip entry `data/<key>`, `numel` float32 values. */
export class StorageRef {
  constructor(readonly key: string, readonly location: string, readonly numel: number) {}
}

/** What `_rebuild_tensor_v2(storage, offset, size, stride, ...)` describes (data not read yet). */
export class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: readonly number[], readonly stride: readonly number[]) {}
}

/** A value on the unpickler's stack. Tuples are frozen arrays. */
export type PickleValue = null | boolean | number | string | readonly PickleValue[] | PickleDict | PickleGlobal | StorageRef | TensorRef;

const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

/** Opcode names for error messages (the ones a state_dict never needs included). */
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT', 0x4b: 'BININT1',
  0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST',
  0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS',
  0x47: 'BINFLOAT', 0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE',
  0x95: 'FRAME', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** The name of pickle opcode `op` (or its hex code). */
export function opcodeName(op: number): string {
  return OPCODE_NAMES[op] ?? `unknown opcode 0x${op.toString(16).padStart(2, '0')}`;
}

/**
 * A pickle reader that only interprets the opcodes a protocol-2 `torch.save(state_dict)`
 * of float32 tensors uses, and only builds plain data: dicts, tuples, strings, ints, bools,
 * None, storage references and tensor descriptions. Globals outside {@link ALLOWED_GLOBALS}
 * and every other opcode are rejected with `LoptError('CHECKPOINT_INVALID')` naming them;
 * nothing in the file is imported or executed. Each opcode consumes at least one byte, so
 * the work is linear in the input.
 */
export function readStateDictPickle(bytes: Uint8Array): PickleValue {
  return new Unpickler(new ByteReader(bytes, FORMAT)).run();
}

class Unpickler {
  private readonly stack: Slot[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PickleValue>();

  constructor(private readonly r: ByteReader) {}

  run(): PickleValue {
    const r = this.r;
    const proto = r.uint(1, 'the PROTO opcode');
    if (proto !== 0x80) throw r.error(`the pickle does not start with PROTO (got ${opcodeName(proto)}); not a torch.save file`, 0);
    const version = r.uint(1, 'the protocol version');
    if (version !== 2) throw r.error(`pickle protocol ${version}; only protocol 2 (torch.save's default) is supported`, 1);
    for (;;) {
      const at = r.offset;
      const op = r.uint(1, 'an opcode');
      if (op === 0x2e) return this.stop(at);
      this.step(op, at);
    }
  }

  private stop(at: number): PickleValue {
    if (this.stack.length !== 1 || this.marks.length > 0) throw this.r.error(`STOP with ${this.stack.length} values on the stack`, at);
    if (this.r.remaining > 0) throw this.r.error(`${this.r.remaining} trailing bytes after STOP`, at + 1);
    return this.stack[0] as PickleValue;
  }

  private step(op: number, at: number): void {
    const r = this.r;
    switch (op) {
      case 0x7d: return this.push(new PickleDict(false));
      case 0x28: this.marks.push(this.stack.length); return;
      case 0x58: return this.push(r.utf8(r.uint(4, 'a BINUNICODE length', true), 'a BINUNICODE string'));
      case 0x71: return this.put(r.uint(1, 'a BINPUT index'), at);
      case 0x72: return this.put(r.uint(4, 'a LONG_BINPUT index', true), at);
      case 0x68: return this.get(r.uint(1, 'a BINGET index'), at);
      case 0x6a: return this.get(r.uint(4, 'a LONG_BINGET index', true), at);
      case 0x63: return this.push(this.global(at));
      case 0x51: return this.push(persistentStorage(this.pop(at), r, at));
      case 0x74: return this.push(Object.freeze(this.popMark(at)));
      case 0x29: return this.push(Object.freeze([]));
      case 0x85: case 0x86: case 0x87: return this.push(Object.freeze(this.popN(op - 0x84, at)));
      case 0x4b: return this.push(r.uint(1, 'a BININT1'));
      case 0x4d: return this.push(r.uint(2, 'a BININT2', true));
      case 0x4a: return this.push(r.int(4, 'a BININT', true));
      case 0x8a: return this.push(long1(r, at));
      case 0x88: return this.push(true);
      case 0x89: return this.push(false);
      case 0x4e: return this.push(null);
      case 0x52: return this.reduce(at);
      case 0x73: return this.setItems(this.popN(2, at), at);
      case 0x75: return this.setItems(this.popMark(at), at);
      case 0x62: return this.build(at);
      default: throw r.error(`opcode ${opcodeName(op)} is not allowed (a state_dict of float32 tensors never needs it; nothing in the file is executed)`, at);
    }
  }

  private push(v: PickleValue): void {
    this.stack.push(v);
  }

  private pop(at: number): PickleValue {
    const top = this.stack.length - 1;
    if (top < 0 || (this.marks.length > 0 && top < (this.marks[this.marks.length - 1] as number))) throw this.r.error('an opcode pops from an empty stack', at);
    return this.stack.pop() as PickleValue;
  }

  private popN(n: number, at: number): PickleValue[] {
    const out: PickleValue[] = [];
    for (let i = 0; i < n; i++) out.unshift(this.pop(at));
    return out;
  }

  private popMark(at: number): PickleValue[] {
    const m = this.marks.pop();
    if (m === undefined) throw this.r.error('an opcode needs a MARK that was never set', at);
    return this.stack.splice(m) as PickleValue[];
  }

  private put(i: number, at: number): void {
    if (this.stack.length === 0) throw this.r.error('BINPUT with an empty stack', at);
    this.memo.set(i, this.stack[this.stack.length - 1] as PickleValue);
  }

  private get(i: number, at: number): void {
    if (!this.memo.has(i)) throw this.r.error(`BINGET of memo slot ${i}, which was never set`, at);
    this.push(this.memo.get(i) as PickleValue);
  }

  private global(at: number): PickleGlobal {
    const module = this.line('a GLOBAL module name');
    const name = this.line('a GLOBAL name');
    const full = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.includes(full)) {
      const hint = /^torch\.\w+Storage$/.test(full) ? '; only float32 tensors (torch.FloatStorage) are supported' : `; only ${ALLOWED_GLOBALS.join(', ')} are allowed`;
      throw this.r.error(`GLOBAL ${full} is not allowed${hint} (nothing in the file is imported or executed)`, at);
    }
    return new PickleGlobal(full);
  }

  private line(what: string): string {
    const start = this.r.offset;
    const end = this.r.bytes.subarray(start, start + 256).indexOf(0x0a);
    if (end < 0) throw this.r.error(`${what} is not ended by a newline within 256 bytes`, start);
    const s = this.r.utf8(end, what);
    this.r.offset += 1;
    return s;
  }

  private reduce(at: number): void {
    const args = this.pop(at);
    const fn = this.pop(at);
    if (!(fn instanceof PickleGlobal) || !Array.isArray(args)) throw this.r.error('REDUCE of something other than an allowed global with a tuple of arguments', at);
    if (fn.name === 'collections.OrderedDict') {
      if (args.length !== 0) throw this.r.error('OrderedDict is called with arguments', at);
      return this.push(new PickleDict(true));
    }
    if (fn.name === 'torch._utils._rebuild_tensor_v2') return this.push(rebuildTensor(args as PickleValue[], this.r, at));
    throw this.r.error(`REDUCE calls ${fn.name}, which is not callable here`, at);
  }

  private setItems(kv: PickleValue[], at: number): void {
    const target = this.stack[this.stack.length - 1];
    if (!(target instanceof PickleDict) || (this.marks.length > 0 && this.stack.length - 1 < (this.marks[this.marks.length - 1] as number))) {
      throw this.r.error('SETITEM(S) on something that is not a dict', at);
    }
    if (kv.length % 2 !== 0) throw this.r.error('SETITEMS with an odd number of values', at);
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i];
      if (typeof k !== 'string') throw this.r.error(`a dict key is ${k === null ? 'None' : typeof k}, not a string`, at);
      if (target.items.has(k)) throw this.r.error(`the key '${k}' appears twice`, at);
      target.items.set(k, kv[i + 1] as PickleValue);
    }
  }

  /** BUILD on an OrderedDict sets instance attributes (a state_dict's `_metadata`): plain data, ignored. */
  private build(at: number): void {
    const state = this.pop(at);
    const target = this.stack[this.stack.length - 1];
    if (!(target instanceof PickleDict) || !target.ordered || !(state instanceof PickleDict)) {
      throw this.r.error('BUILD is only accepted on an OrderedDict with a dict of attributes (a state_dict\'s _metadata)', at);
    }
  }
}

function long1(r: ByteReader, at: number): number {
  const n = r.uint(1, 'a LONG1 length');
  if (n > 7) throw r.error(`a LONG1 integer of ${n} bytes is outside the safe integer range`, at);
  const b = r.take(n, 'a LONG1 integer');
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + (b[i] as number);
  if (n > 0 && (b[n - 1] as number) & 0x80) v -= 2 ** (8 * n);
  if (!Number.isSafeInteger(v)) throw r.error('a LONG1 integer is outside the safe integer range', at);
  return v;
}

function isInt(v: PickleValue | undefined): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function persistentStorage(pid: PickleValue, r: ByteReader, at: number): StorageRef {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') throw r.error("BINPERSID of something other than a ('storage', type, key, location, numel) tuple", at);
  const [, type, key, location, numel] = pid as PickleValue[];
  if (!(type instanceof PickleGlobal) || type.name !== 'torch.FloatStorage') throw r.error('a storage is not a torch.FloatStorage', at);
  if (typeof key !== 'string' || typeof location !== 'string') throw r.error('a storage key or location is not a string', at);
  if (!isInt(numel) || numel < 0) throw r.error(`storage '${key}' has a negative or non-integer size ${String(numel)}`, at);
  return new StorageRef(key, location, numel);
}

function rebuildTensor(args: PickleValue[], r: ByteReader, at: number): TensorRef {
  if (args.length !== 6 && args.length !== 7) throw r.error(`_rebuild_tensor_v2 gets ${args.length} arguments, not 6 or 7`, at);
  const [storage, offset, size, stride, requiresGrad, hooks] = args;
  if (!(storage instanceof StorageRef)) throw r.error('_rebuild_tensor_v2 gets no storage', at);
  if (!isInt(offset) || offset < 0) throw r.error(`a tensor has a negative or non-integer storage offset ${String(offset)}`, at);
  const ints = (v: PickleValue | undefined): v is number[] => Array.isArray(v) && v.every((x) => isInt(x) && x >= 0);
  if (!ints(size) || !ints(stride) || size.length !== stride.length) throw r.error('a tensor has a size or stride that is not a tuple of non-negative integers of equal length', at);
  if (typeof requiresGrad !== 'boolean' || !(hooks instanceof PickleDict) || hooks.items.size > 0) throw r.error('a tensor has backward hooks or a malformed requires_grad', at);
  if (args.length === 7 && !(args[6] instanceof PickleDict)) throw r.error('a tensor has malformed metadata', at);
  return new TensorRef(storage, offset, size, stride);
}
