import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // CI also writes a JSON report, from which .ci/run prints its closing "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/vitest.json' },
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/integration/**/*.test.ts'],
          // signed software updates run in their own suite: `npm run test:update`
          exclude: ['test/integration/update/**'],
          environment: 'node',
          globalSetup: ['test/helpers/global-setup.ts', 'test/integration/firmware/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Integration tests start processes, brokers and ptys: keep them to the two cores.
          maxWorkers: 2,
        },
      },
      {
        // issue 14, signed software updates (TUF, bundles, A/B): `npm run test:update` (sets KIOSK_UPDATE)
        test: {
          name: 'update',
          sequence: { groupOrder: 5 },
          include: process.env.KIOSK_UPDATE === '1' ? ['test/integration/update/**/*.test.ts'] : [],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 60_000,
          maxWorkers: 2,
        },
      },
      {
        // attacks on the shipped configuration: `npm run test:security` (sets KIOSK_SECURITY), not `npm test`
        test: {
          name: 'security',
          sequence: { groupOrder: 3 },
          include: process.env.KIOSK_SECURITY === '1' ? ['test/security/**/*.test.ts'] : [],
          environment: 'node',
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          maxWorkers: 1,
        },
      },
      {
        // axe-core on every screen × language: `npm run test:a11y` (sets KIOSK_A11Y), not `npm test`
        test: {
          name: 'a11y',
          sequence: { groupOrder: 4 },
          include: process.env.KIOSK_A11Y === '1' ? ['test/a11y/**/*.test.ts'] : [],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 60_000,
          maxWorkers: 1,
        },
      },
      {
        // headless Chromium against the touchscreen app: `npm run test:e2e` (sets KIOSK_E2E), not `npm test`
        test: {
          name: 'e2e',
          sequence: { groupOrder: 2 },
          include: process.env.KIOSK_E2E === '1' ? ['test/e2e/**/*.test.ts'] : [],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 60_000,
          maxWorkers: 1,
        },
      },
      {
        // headless Chromium against the ops dashboard (`kiosk-ops serve`) on `kiosk demo` plus
        // simulated kiosks: `npm run test:ops-e2e` (sets KIOSK_OPS_E2E), not `npm test`
        test: {
          name: 'ops-e2e',
          sequence: { groupOrder: 5 },
          include: process.env.KIOSK_OPS_E2E === '1' ? ['test/e2e-ops/**/*.test.ts'] : [],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 90_000,
          maxWorkers: 1,
        },
      },
    ],
  },
});
