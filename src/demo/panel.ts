import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import {
  type DemoControl,
  DemoCitizensSchema,
  panelCitizen,
  RigControlError,
  rigControlLine,
} from '../ui/demo-control.js';

/**
 * The demo page's control panel, talking to the rig child process over its control socket (the
 * same one a technician uses): the citizen's hands (`finger`, `scan`, `take`), the cables
 * (`unplug`, `replug`) and the list of demo citizens (`citizens`).
 */
export function rigDemoControl(socketPath: string): DemoControl {
  const ask = (line: string) =>
    new Promise<string>((resolveAsk, reject) => {
      const socket = connect(socketPath);
      let reply = '';
      socket.setEncoding('utf8');
      socket.setTimeout(5000, () => socket.destroy(new Error('rig control socket timed out')));
      socket.on('connect', () => socket.write(line));
      socket.on('data', (chunk: string) => {
        reply += chunk;
        const newline = reply.indexOf('\n');
        if (newline < 0) return;
        socket.end();
        const answer = reply.slice(0, newline).trim();
        if (answer.startsWith('error: ')) reject(new RigControlError(answer.slice('error: '.length)));
        else resolveAsk(answer);
      });
      socket.on('error', reject);
    });
  return {
    citizens: async () => DemoCitizensSchema.parse(JSON.parse(await ask('citizens\n'))).map(panelCitizen),
    run: async (command) => {
      await ask(rigControlLine(command));
    },
    // the rig's printer emulator writes it beside the socket (rig.ts: <rig dir>/printer)
    lastReceiptPng: () =>
      readFile(join(dirname(socketPath), 'printer', 'last-receipt.png')).catch(() => undefined),
  };
}
