import { loptProject } from '../../vitest.shared.ts';

// End-to-end tests in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
export default loptProject('playground', {
  include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
  testTimeout: 120_000,
  hookTimeout: 180_000,
});
