import type { GradientEstimator, LearnedOptimizer, Optimizer, Task, TaskFamily } from './contracts.js';
import { LoptError } from './errors.js';

/** What a registry entry builds, per kind. */
export interface RegistryKinds {
  /** A hand-designed or wrapped optimizer. */
  optimizer: Optimizer;
  /** A learned-optimizer architecture. */
  'learned-optimizer': LearnedOptimizer;
  /** A single task. */
  task: Task;
  /** A task family. */
  'task-family': TaskFamily;
  /** A gradient estimator. */
  estimator: GradientEstimator;
}

/** The kinds of component the registry knows. */
export type RegistryKind = keyof RegistryKinds;

/** The kinds, in display order. */
export const REGISTRY_KINDS: readonly RegistryKind[] = ['optimizer', 'learned-optimizer', 'task', 'task-family', 'estimator'];

/** Options passed to a factory: JSON-like values, or objects a programmatic caller supplies. */
export type FactoryOptions = Readonly<Record<string, unknown>>;

/** Builds a component from options. Factories validate their options and throw `LoptError`. */
export type Factory<K extends RegistryKind> = (options: FactoryOptions) => RegistryKinds[K];

/** One registered component as {@link list} reports it. */
export interface RegistryEntry {
  /** The name to pass to {@link create}. */
  readonly name: string;
  /** One line saying what it is. */
  readonly description: string;
}

interface StoredEntry {
  readonly factory: Factory<RegistryKind>;
  readonly description: string;
}

type Store = Map<RegistryKind, Map<string, StoredEntry>>;

// One registry per process, even if two copies of @lopt/core are installed.
const STORE_KEY = Symbol.for('@lopt/core/registry');
function store(): Store {
  const g = globalThis as unknown as Record<symbol, Store | undefined>;
  let s = g[STORE_KEY];
  if (!s) {
    s = new Map();
    g[STORE_KEY] = s;
  }
  return s;
}

function checkKind(kind: unknown): RegistryKind {
  if (!REGISTRY_KINDS.includes(kind as RegistryKind)) {
    throw new LoptError('INVALID_OPTION', `Unknown registry kind '${String(kind)}'; kinds are ${REGISTRY_KINDS.join(', ')}.`, { option: 'kind' });
  }
  return kind as RegistryKind;
}

function bucket(kind: RegistryKind): Map<string, StoredEntry> {
  const s = store();
  let b = s.get(kind);
  if (!b) {
    b = new Map();
    s.set(kind, b);
  }
  return b;
}

/**
 * Registers a component factory under `kind` and `name`. A second registration of the
 * same name throws `LoptError('DUPLICATE_NAME')` unless it is the very same factory
 * (so idempotent `registerAll()` functions may run twice).
 *
 * @example
 * ```ts
 * register('optimizer', 'mySgd', (o) => mySgd(o), 'SGD with my twist');
 * const opt = create('optimizer', 'mySgd', { learningRate: 0.1 });
 * ```
 */
export function register<K extends RegistryKind>(kind: K, name: string, factory: Factory<K>, description: string): void {
  checkKind(kind);
  if (typeof name !== 'string' || !/^[A-Za-z][\w.-]*$/.test(name)) {
    throw new LoptError('INVALID_OPTION', `Registry name ${JSON.stringify(name)} must start with a letter and contain only letters, digits, '_', '-', '.'.`, { option: 'name' });
  }
  if (typeof factory !== 'function') {
    throw new LoptError('INVALID_OPTION', `Registry entry '${name}' needs a factory function.`, { option: 'factory' });
  }
  const b = bucket(kind);
  const existing = b.get(name);
  if (existing) {
    if (existing.factory === factory) return;
    throw new LoptError('DUPLICATE_NAME', `A ${kind} named '${name}' is already registered; pick another name or unregister it first.`, { option: 'name' });
  }
  b.set(name, { factory: factory as Factory<RegistryKind>, description: String(description ?? '') });
}

/** Removes a registration (mainly for tests and plugin reloading). Returns whether it existed. */
export function unregister(kind: RegistryKind, name: string): boolean {
  return bucket(checkKind(kind)).delete(name);
}

/** Whether `name` is registered under `kind`. */
export function has(kind: RegistryKind, name: string): boolean {
  return bucket(checkKind(kind)).has(name);
}

/**
 * Builds the component registered as `kind`/`name` with `options`. An unknown name throws
 * `LoptError('UNKNOWN_NAME')` listing the registered names (and the closest one).
 */
export function create<K extends RegistryKind>(kind: K, name: string, options: FactoryOptions = {}): RegistryKinds[K] {
  const b = bucket(checkKind(kind));
  const entry = b.get(name);
  if (!entry) {
    const names = [...b.keys()].sort();
    const suggestion = closest(name, names);
    throw new LoptError(
      'UNKNOWN_NAME',
      `No ${kind} named '${name}' is registered.${suggestion ? ` Did you mean '${suggestion}'?` : ''} ` +
        (names.length ? `Registered: ${names.join(', ')}.` : `None is registered; call registerAll() of the package that provides them.`),
      { option: kind },
    );
  }
  return checkBuilt(kind, name, entry.factory(options)) as RegistryKinds[K];
}

/** The functions a component of each kind must have (the contracts of this package). */
const REQUIRED_METHODS: Readonly<Record<RegistryKind, readonly string[]>> = {
  optimizer: ['init', 'update'],
  'learned-optimizer': ['init', 'optimizer'],
  task: ['init', 'loss'],
  'task-family': ['sample', 'task'],
  estimator: ['init', 'estimate'],
};

/**
 * Checks that a factory built a component of its kind (an object with the contract's
 * functions), so a broken factory (say, of a plugin) fails here, naming it, rather than as a
 * `TypeError` far away. Throws `LoptError('INVALID_OPTION')`.
 */
function checkBuilt(kind: RegistryKind, name: string, built: unknown): unknown {
  const methods = REQUIRED_METHODS[kind];
  const missing = typeof built === 'object' && built !== null ? methods.filter((m) => typeof (built as Record<string, unknown>)[m] !== 'function') : methods;
  if (missing.length > 0) {
    const got = typeof built === 'object' && built !== null ? `an object without ${missing.join(' and ')}` : built === null ? 'null' : typeof built;
    throw new LoptError(
      'INVALID_OPTION',
      `The factory registered as ${kind} '${name}' returned ${got}, not a ${kind} (one with functions ${methods.join(' and ')}); the code that registered it (a plugin?) is broken.`,
      { option: name },
    );
  }
  return built;
}

/** Every registered component of `kind`, sorted by name. */
export function list(kind: RegistryKind): RegistryEntry[] {
  return [...bucket(checkKind(kind)).entries()]
    .map(([name, e]) => ({ name, description: e.description }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function distance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0] as number;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j] as number;
      d[j] = Math.min((d[j] as number) + 1, (d[j - 1] as number) + 1, prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length] as number;
}

function closest(name: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const dd = distance(name, n);
    if (dd < bestD) {
      bestD = dd;
      best = n;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}
