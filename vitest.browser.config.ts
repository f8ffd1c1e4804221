// `npm run test:browser`: the real-browser check of issue 8 (headless Chromium through the
// intercepting proxy), kept out of `npm test` because it needs the Debian `chromium` package.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/browser/**/*.browser.ts'],
    allowOnly: false,
    testTimeout: 90_000,
    hookTimeout: 60_000,
  },
});
