import { loptProject } from '../../vitest.shared.ts';

// End-to-end tests run the built binary as child processes; on a loaded CI machine one
// process can take far longer than on a quiet one, so the per-test limit is generous.
export default loptProject('cli', {
  testTimeout: 300_000,
});
