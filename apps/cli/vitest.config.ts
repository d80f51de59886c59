import { configDefaults } from 'vitest/config';
import { loptProject } from '../../vitest.shared.ts';

// End-to-end tests run the built binary as child processes; on a loaded CI machine one
// process can take far longer than on a quiet one, so the per-test limit is generous.
export default loptProject('cli', {
  testTimeout: 300_000,
  // test/convert-pretrained.test.ts converts the published Celo/Celo2 weights end to end and
  // needs the celo, celoAdam and celo2 architectures (branch celo). Remove this exclusion when
  // that branch is merged.
  exclude: [...configDefaults.exclude, 'test/convert-pretrained.test.ts'],
});
