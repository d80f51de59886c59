import { REGISTRY_KINDS, list, type RegistryKind } from '@lopt/core';
import { PRETRAINED_SOURCES } from '@lopt/learned';
import { renderTable } from './stats.js';

/** A pretrained learned optimizer shipped with @lopt/learned, as `lopt list` shows it. */
export interface PretrainedRow {
  readonly name: string;
  readonly licence: string;
  readonly source: string;
  readonly needs: string;
}

/** The pretrained optimizers @lopt/learned ships (its `PRETRAINED_SOURCES`). */
export async function pretrainedRows(): Promise<PretrainedRow[]> {
  return Object.entries(PRETRAINED_SOURCES).map(([name, s]) => ({ name: `pretrained:${name}`, licence: s.licence, source: s.source, needs: s.needs }));
}

const TITLES: Record<RegistryKind, string> = {
  optimizer: 'Optimizers (--optimizer <name>[:key=value,...])',
  'learned-optimizer': 'Learned optimizers (config learnedOptimizer.name)',
  task: 'Tasks (--task <name>[:key=value,...])',
  'task-family': 'Task families (--task <family>, config taskFamily.name)',
  estimator: 'Gradient estimators (config estimators[].name)',
};

/** Every registered component of the given kinds, as text (grouped tables) or JSON. */
export function listComponents(kinds: readonly RegistryKind[], json: boolean, pretrained: readonly PretrainedRow[] = []): string {
  if (json) return JSON.stringify({ ...Object.fromEntries(kinds.map((k) => [k, list(k)])), ...(pretrained.length ? { pretrained } : {}) }, null, 2);
  const sections = kinds.map((k) => {
    const entries = list(k);
    const body = entries.length ? renderTable(['name', 'description'], entries.map((e) => [e.name, e.description])) : '(none registered)';
    return `${TITLES[k]}\n${body}`;
  });
  if (pretrained.length) {
    const body = renderTable(['name', 'licence', 'needs', 'source'], pretrained.map((p) => [p.name, p.licence, p.needs, p.source]));
    sections.push(`Pretrained learned optimizers (--optimizer pretrained:<name>[:key=value,...])\n${body}`);
  }
  return sections.join('\n\n');
}

/** All kinds, in display order. */
export const ALL_KINDS = REGISTRY_KINDS;
