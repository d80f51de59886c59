import cliProgress from 'cli-progress';

/** A progress display: a live bar on a terminal, periodic lines otherwise (CI, pipes, tests). */
export interface Progress {
  /** Sets the current value and the named payload fields shown in the bar. */
  update(value: number, payload?: Record<string, string | number>): void;
  /** Stops the bar (leaves the last state on screen). */
  stop(): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Total count. */
  readonly total: number;
  /** The label in front of the bar. */
  readonly label: string;
  /** Payload fields shown after the bar, in order, as `label value` (`key` is the payload key; word characters only). */
  readonly fields: readonly { readonly key: string; readonly label: string }[];
  /** Start value (resumed runs). */
  readonly start?: number;
  /** Non-terminal output: print a line every this fraction of the total. Default 0.1. */
  readonly lineEvery?: number;
}

/**
 * Creates a progress display on stderr. On a terminal it is a cli-progress bar with the
 * payload fields, the rate and the ETA; elsewhere it prints a plain line every 10% so
 * logs stay readable.
 */
export function createProgress(options: ProgressOptions): Progress {
  const { total, label, fields } = options;
  const start = options.start ?? 0;
  const fieldText = fields.map((f) => `${f.label} {${f.key}}`).join(' | ');
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total}${fieldText ? ` | ${fieldText}` : ''} | ETA {eta_formatted}`,
        barsize: 24,
        hideCursor: true,
        etaBuffer: 20,
        stream: process.stderr,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, start, Object.fromEntries(fields.map((f) => [f.key, '-'])));
    return {
      update: (value, payload) => bar.update(value, payload ?? {}),
      stop: () => bar.stop(),
    };
  }
  const every = Math.max(1, Math.round(total * (options.lineEvery ?? 0.1)));
  const t0 = Date.now();
  let lastPrinted = start;
  return {
    update: (value, payload = {}) => {
      if (value - lastPrinted < every && value !== total) return;
      lastPrinted = value;
      const elapsed = (Date.now() - t0) / 1000;
      const rate = elapsed > 0 ? (value - start) / elapsed : 0;
      const eta = rate > 0 ? Math.round((total - value) / rate) : NaN;
      const shown = fields.filter((f) => payload[f.key] !== undefined).map((f) => `${f.label} ${payload[f.key]}`);
      process.stderr.write(`${label} ${value}/${total}${shown.length ? ` | ${shown.join(' | ')}` : ''}${Number.isFinite(eta) ? ` | ETA ${eta}s` : ''}\n`);
    },
    stop: () => undefined,
  };
}
