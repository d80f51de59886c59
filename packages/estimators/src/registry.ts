import { register, type FactoryOptions } from '@lopt/core';
import { fullES, type FullESOptions } from './full-es.js';
import { tbptt, type TbpttOptions } from './tbptt.js';
import { truncatedES, type TruncatedESOptions } from './truncated-es.js';
import { truncatedPES, type TruncatedPESOptions } from './truncated-pes.js';

const factories = {
  tbptt: (o: FactoryOptions) => tbptt(o as unknown as TbpttOptions),
  truncatedES: (o: FactoryOptions) => truncatedES(o as unknown as TruncatedESOptions),
  truncatedPES: (o: FactoryOptions) => truncatedPES(o as unknown as TruncatedPESOptions),
  fullES: (o: FactoryOptions) => fullES(o as unknown as FullESOptions),
};

/**
 * Registers the built-in estimators under kind `estimator` (`tbptt`, `truncatedES`,
 * `truncatedPES`, `fullES`); idempotent. Their options need a `truncatedStep` object, so
 * `create('estimator', 'truncatedPES', { truncatedStep, unrollLength: 10, std: 0.01 })`.
 */
export function registerAll(): void {
  register('estimator', 'tbptt', factories.tbptt, 'Truncated backpropagation through time through the inner unroll');
  register('estimator', 'truncatedES', factories.truncatedES, 'Antithetic truncated evolution strategies');
  register('estimator', 'truncatedPES', factories.truncatedPES, 'Persistent evolution strategies (unbiased truncated ES)');
  register('estimator', 'fullES', factories.fullES, 'Antithetic evolution strategies over whole fresh episodes');
}
