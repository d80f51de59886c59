// Pool worker of `pnpm bench:scale`. Usage: tsx scale-worker.ts <slots> [quadratic|quickstart]
import { initBackend } from '@lopt/backend';
import { serveEstimates } from '../src/node.ts';
import { poolProblems } from './scale-problem.ts';

await initBackend({ backend: (process.env.LOPT_BACKEND as 'wasm' | 'cpu' | undefined) ?? 'wasm' });
serveEstimates(poolProblems[(process.argv[3] ?? 'quadratic') as keyof typeof poolProblems](Number(process.argv[2])).estimators);
