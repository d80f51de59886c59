import { loptProject } from '../../vitest.shared.ts';

export default loptProject('readme', { include: ['*.test.ts'], testTimeout: 180_000 });
