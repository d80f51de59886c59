/**
 * `@lopt/core`: the shared interface of lopt. Contracts every package combines through
 * (optimizers, learned optimizers, tasks, estimators), tensor-tree utilities, counter-based
 * PRNG keys, the memory-safe `advance` step, the checkpoint format, errors and the registry.
 * @packageDocumentation
 */
export { LoptError, isLoptError } from './errors.js';
export type { LoptErrorCode, LoptErrorDetails } from './errors.js';
export { checkKnownKeys, checkNumber, checkOneOf, checkBoolean, checkOptimizer, hasInitAndUpdate, FORBIDDEN_OPTION_KEYS, formatValue } from './validate.js';
export { tidy, lossAndGrads } from './tidy.js';
export { decodeBase64, compileEmbeddedWasm, isTapeRecording, registerKernelsOnce } from './fused-kernels.js';
export type { FusedTensorInfo, CpuKernelBackend, WasmKernelBackend } from './fused-kernels.js';
export type { NumberConstraints } from './validate.js';
export type {
  UpdateContext,
  OptState,
  OptimizerInitOptions,
  Optimizer,
  GradientTransformation,
  LearnedOptimizerOptions,
  LearnedOptimizer,
  Dataset,
  Datasets,
  Task,
  TaskFamily,
  GradientEstimate,
  GradientEstimator,
} from './contracts.js';
export {
  isTensor,
  formatPath,
  treeLeaves,
  treePaths,
  treeStructure,
  treeFlatten,
  treeUnflatten,
  treeDefLeafCount,
  assertSameStructure,
  treeMap,
  treeMapWithPath,
  treeZerosLike,
  treeSize,
  globalNorm,
  treeAdd,
  treeSub,
  treeScale,
  treeVdot,
  disposeTree,
} from './tree.js';
export type { TensorTree, TreeDef, KeepSet } from './tree.js';
export {
  key,
  isKey,
  split,
  foldIn,
  randomBits,
  keyToJSON,
  keyFromJSON,
  normal,
  normalArray,
  truncatedNormal,
  uniform,
  uniformArray,
  bernoulli,
  randint,
  randintArray,
  permutation,
  threefry2x32,
} from './random.js';
export type { Key, NormalOptions, TruncatedNormalOptions, UniformOptions } from './random.js';
export { advance, collectTensors, disposeReplaced, mapTensors } from './advance.js';
export { stackTrees, unstackTree, advanceVectorized } from './vectorized.js';
export type { VectorizedTask, VectorizedOptState, VectorizedUpdateContext, VectorizedOptimizer, VectorizedOptimizerOptions } from './vectorized.js';
export { requireBackend } from './backend-check.js';
export type { DenseLayerRef, LayerTap, DenseLayerTapping, DenseLayerStatistics } from './layers.js';
export { valueAndLayerGrads, disposeLayerGradients } from './layer-grads.js';
export type { LayerGradients } from './layer-grads.js';
export { serializeTree, deserializeTree, CHECKPOINT_FORMAT_VERSION } from './checkpoint.js';
export type { CheckpointMetadata, LoadedCheckpointMetadata, CheckpointExpectation } from './checkpoint.js';
export { register, unregister, has, create, list, REGISTRY_KINDS } from './registry.js';
export type { RegistryKinds, RegistryKind, RegistryEntry, Factory, FactoryOptions } from './registry.js';
