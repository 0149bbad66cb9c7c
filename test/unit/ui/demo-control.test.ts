import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEMO_DEVICES, DemoCommandSchema, rigControlLine } from '../../../src/ui/demo-control.js';

describe('demo control commands', () => {
  it('every command the schema accepts is exactly one line of the rig socket, its text intact', () => {
    const command = fc.oneof(
      fc.record({ type: fc.constant('finger'), who: fc.stringMatching(/^[A-Za-z0-9-]{1,32}$/) }),
      fc.record({ type: fc.constant('scan'), text: fc.string({ minLength: 1, maxLength: 512 }) }),
      fc.constant({ type: 'take-card' }),
      fc.record({ type: fc.constantFrom('unplug', 'replug'), device: fc.constantFrom(...DEMO_DEVICES) }),
    );
    fc.assert(
      fc.property(command, (candidate) => {
        const parsed = DemoCommandSchema.safeParse(candidate);
        const text = 'text' in candidate ? candidate.text : '';
        // a code with a line break would smuggle a second command into the socket: refused
        expect(parsed.success).toBe(!/[\r\n]/.test(text));
        if (!parsed.success) return;
        const line = rigControlLine(parsed.data);
        expect(line.endsWith('\n')).toBe(true);
        expect(line.slice(0, -1)).not.toMatch(/[\r\n]/);
        if (parsed.data.type === 'scan') expect(line).toBe(`scan ${text}\n`);
      }),
    );
  });

  it('refuses what is not a command', () => {
    for (const bad of [
      { type: 'finger', who: 'a b' },
      { type: 'finger', who: '' },
      { type: 'unplug', device: 'card-reader' },
      { type: 'take-card', extra: 1 },
      { type: 'scan', text: '' },
      { type: 'reboot' },
    ])
      expect(DemoCommandSchema.safeParse(bad).success).toBe(false);
  });
});
