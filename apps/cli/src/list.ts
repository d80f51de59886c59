import { REGISTRY_KINDS, list, type RegistryKind } from '@lopt/core';
import { renderTable } from './stats.js';

const TITLES: Record<RegistryKind, string> = {
  optimizer: 'Optimizers (--optimizer <name>[:key=value,...])',
  'learned-optimizer': 'Learned optimizers (config learnedOptimizer.name)',
  task: 'Tasks (--task <name>[:key=value,...])',
  'task-family': 'Task families (--task <family>, config taskFamily.name)',
  estimator: 'Gradient estimators (config estimators[].name)',
};

/** Every registered component of the given kinds, as text (grouped tables) or JSON. */
export function listComponents(kinds: readonly RegistryKind[], json: boolean): string {
  if (json) return JSON.stringify(Object.fromEntries(kinds.map((k) => [k, list(k)])), null, 2);
  return kinds
    .map((k) => {
      const entries = list(k);
      const body = entries.length ? renderTable(['name', 'description'], entries.map((e) => [e.name, e.description])) : '(none registered)';
      return `${TITLES[k]}\n${body}`;
    })
    .join('\n\n');
}

/** All kinds, in display order. */
export const ALL_KINDS = REGISTRY_KINDS;
