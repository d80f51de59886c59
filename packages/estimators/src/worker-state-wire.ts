import { LoptError, deserializeTree, disposeTree, serializeTree, treeLeaves } from '@lopt/core';
import { packState, unpackState, type PackedJson } from './state.js';

const STATES_KIND = 'lopt-worker-states';

/** Serializes estimator worker states (tensors in the safetensors layout, the rest as a JSON skeleton). */
export function encodeWorkerStates(states: readonly unknown[]): Uint8Array {
  const { tensors, skeleton } = packState([...states]);
  return serializeTree(tensors, { kind: STATES_KIND, name: 'states', extra: { skeleton } });
}

/** Reads worker states written by {@link encodeWorkerStates} (tensors owned by the caller). */
export function decodeWorkerStates(bytes: Uint8Array): unknown[] {
  const { tree, metadata } = deserializeTree(bytes, { kind: STATES_KIND });
  const states = unpackState(metadata.extra.skeleton as PackedJson, treeLeaves(tree));
  if (!Array.isArray(states)) {
    disposeTree(tree);
    throw new LoptError('CHECKPOINT_INVALID', 'Worker states must be an array.', { option: 'states' });
  }
  return states;
}

