import { describe, expect, it } from 'vitest';
import type { DemoEntry } from '../../../src/cli/demo-loader.js';
import * as demo from '../../../src/demo/index.js';

describe('the demo entry the CLI loads at run time', () => {
  it('fits the surface src/cli/demo-loader.ts expects of it', () => {
    // a compile-time check: the loader casts the dynamic import to DemoEntry
    const entry: DemoEntry = demo;
    expect(typeof entry.runDemo).toBe('function');
    expect(typeof entry.runDemoRigProcess).toBe('function');
    const card = entry.emulatedCard();
    expect(card.trustListPem).toContain('BEGIN CERTIFICATE');
  });
});
