import { loptProject } from '../../vitest.shared.ts';

export default loptProject('install', { include: ['*.test.ts'] });
