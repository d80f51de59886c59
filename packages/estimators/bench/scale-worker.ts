// Pool worker of `pnpm bench:scale`. Usage: tsx scale-worker.ts <slots>
import { initBackend } from '@lopt/backend';
import { serveEstimates } from '../src/node.ts';
import { scaleProblem } from './scale-problem.ts';

await initBackend({ backend: (process.env.LOPT_BACKEND as 'wasm' | 'cpu' | undefined) ?? 'wasm' });
serveEstimates(scaleProblem(Number(process.argv[2])).estimators);
