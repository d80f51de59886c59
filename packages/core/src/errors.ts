/**
 * Stable error codes of {@link LoptError}. Code is part of the public API: tools may branch on it.
 *
 * - `INVALID_OPTION`: a hyperparameter or option is out of range, NaN or of the wrong type.
 * - `TREE_MISMATCH`: two tensor trees that must have one structure (params and grads) differ.
 * - `SHAPE_MISMATCH`: a tensor has the wrong shape or dtype.
 * - `NON_FINITE`: a NaN or infinity where a finite number is required.
 * - `MISSING_CONTEXT`: an update needs a field of the update context (such as the loss) that was not given.
 * - `CHECKPOINT_INVALID`: a checkpoint is truncated, corrupted or of an unknown format.
 * - `CHECKPOINT_MISMATCH`: a valid checkpoint of another kind, name or configuration than expected.
 * - `UNKNOWN_NAME`: a registry lookup of a name that is not registered.
 * - `DUPLICATE_NAME`: a registry entry registered twice.
 * - `BACKEND_UNAVAILABLE`: a requested tensor backend is not installed or failed to start.
 * - `IO_ERROR`: reading or writing a file failed.
 * - `INTERNAL`: a broken invariant inside lopt (a bug; please report it).
 */
export type LoptErrorCode =
  | 'INVALID_OPTION'
  | 'TREE_MISMATCH'
  | 'SHAPE_MISMATCH'
  | 'NON_FINITE'
  | 'MISSING_CONTEXT'
  | 'CHECKPOINT_INVALID'
  | 'CHECKPOINT_MISMATCH'
  | 'UNKNOWN_NAME'
  | 'DUPLICATE_NAME'
  | 'BACKEND_UNAVAILABLE'
  | 'IO_ERROR'
  | 'INTERNAL';

/** Extra, machine-readable details of a {@link LoptError}. */
export interface LoptErrorDetails {
  /** The option (hyperparameter) that was rejected, e.g. `learningRate`. */
  readonly option?: string;
  /** The tree path where a structure or value problem was found, e.g. `layers.0.w`. */
  readonly path?: string;
  /** The underlying error, if this one wraps another. */
  readonly cause?: unknown;
}

/**
 * The one error type every lopt package throws for bad input and failed checks.
 * Its `message` names the offending option or tree path; `code` is stable.
 *
 * @example
 * ```ts
 * try { adam({ learningRate: -1 }); } catch (e) {
 *   if (e instanceof LoptError && e.code === 'INVALID_OPTION') console.error(e.message);
 * }
 * ```
 */
export class LoptError extends Error {
  /** Stable, machine-readable error code. */
  readonly code: LoptErrorCode;
  /** The rejected option, when there is one. */
  readonly option: string | undefined;
  /** The tree path of the problem, when there is one. */
  readonly path: string | undefined;

  constructor(code: LoptErrorCode, message: string, details: LoptErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'LoptError';
    this.code = code;
    this.option = details.option;
    this.path = details.path;
  }
}

/** True when `value` is a {@link LoptError} (also across duplicated copies of this package). */
export function isLoptError(value: unknown): value is LoptError {
  return (
    value instanceof LoptError ||
    (value instanceof Error && value.name === 'LoptError' && typeof (value as { code?: unknown }).code === 'string')
  );
}
