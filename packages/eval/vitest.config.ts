import { loptProject } from '../../vitest.shared.ts';

export default loptProject('eval');
