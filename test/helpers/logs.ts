import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/util/log.js';

/** A logger whose JSON lines are kept in memory, for tests that read what was logged. */
export function capturingLogger(level = 'debug'): { log: Logger; lines: () => string[]; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const log = createLogger({ level, pretty: false, destination });
  const text = () => chunks.join('');
  return { log, text, lines: () => text().split('\n').filter(Boolean) };
}

export function quietLogger(): Logger {
  return createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent', pretty: false });
}
