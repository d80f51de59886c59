/** The published learned optimizers whose checkpoints lopt can convert. */
export type ReferenceArchitecture = 'celo' | 'celoAdam' | 'celo2';

/** The file formats they were published in. */
export type ReferenceFormat = 'flax-msgpack' | 'torch-zip';

/** One expected leaf: its path (keys as in the file) and shape. */
export type LeafSpec = readonly [path: readonly string[], shape: readonly number[]];

/** The leaves a reference checkpoint of one architecture holds, in file order. */
export interface ReferenceLayout {
  readonly architecture: ReferenceArchitecture;
  readonly format: ReferenceFormat;
  readonly leaves: readonly LeafSpec[];
}

/** Input groups of the per-element MLPs with 3 features (the others have 1). */
const WIDE_GROUPS = new Set([3, 5, 7, 9, 10, 11, 12, 13]);
const groupWidth = (g: number): number => (WIDE_GROUPS.has(g) ? 3 : 1);
const GROUPS = Array.from({ length: 14 }, (_, g) => g);

function scheduler(withControls: boolean): LeafSpec[] {
  const dense = (name: string, n: number, m: number): LeafSpec[] => [[['rnn_params', name, 'b'], [m]], [['rnn_params', name, 'w'], [n, m]]];
  return [
    [['lstm_init_state', 'hidden'], [1, 64]],
    [['lstm_init_state', 'cell'], [1, 64]],
    ...dense('linear', 18, 64),
    ...dense('linear_1', 18, 64),
    ...dense('linear_2', 18, 64),
    ...dense('rnn/linear', 128, 256),
    ...(withControls ? dense('rnn_to_controls', 64, 1) : []),
    ...dense('step_size', 64, 1),
  ];
}

const celoMlp: LeafSpec[] = [
  ...(['b0', 'b1'] as const).map((b): LeafSpec => [['ff_mod_stack', '~', b], [1, 4]]),
  [['ff_mod_stack', '~', 'b2'], [1, 3]],
  // flax writes map keys sorted as strings: w0__0, w0__1, w0__10, ..., w0__13, w0__2, ...
  ...[...GROUPS].sort((a, b) => (String(a) < String(b) ? -1 : 1)).map((g): LeafSpec => [['ff_mod_stack', '~', `w0__${g}`], [1, groupWidth(g), 4]]),
  [['ff_mod_stack', '~', 'w1'], [1, 4, 4]],
  [['ff_mod_stack', '~', 'w2'], [1, 4, 3]],
];

const celo2Mlp: LeafSpec[] = [
  ...GROUPS.map((g): LeafSpec => [[`first_layer_weights.${g}`], [8, groupWidth(g)]]),
  [['first_layer_bias'], [8]],
  [['hidden.weight'], [8, 8]],
  [['hidden.bias'], [8]],
  [['output.weight'], [3, 8]],
  [['output.bias'], [3]],
];

/**
 * The leaf trees of the published checkpoints (`../shared/pretrained/*\/PROVENANCE.md`):
 * Celo and Celo-Adam as flax msgpack (Celo-Adam has no per-element MLP and no control head),
 * Celo2 as PyLO's flat PyTorch state_dict with (out, in) weights.
 */
export const REFERENCE_LAYOUTS: readonly ReferenceLayout[] = [
  { architecture: 'celo', format: 'flax-msgpack', leaves: [...celoMlp, ...scheduler(true)] },
  { architecture: 'celoAdam', format: 'flax-msgpack', leaves: scheduler(false) },
  { architecture: 'celo2', format: 'torch-zip', leaves: celo2Mlp },
];
