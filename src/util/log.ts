import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import pretty from 'pino-pretty';
import { scrubValue } from './pii.js';

export type { Logger } from 'pino';

export interface LogOptions {
  level: string;
  /** human-readable output for the demo and a technician's terminal; JSON lines otherwise */
  pretty: boolean;
  /** where lines go; stdout by default (tests pass a capturing stream) */
  destination?: DestinationStream;
}

/**
 * The runtime's logger. Every argument of every call passes through `scrubValue` before pino
 * serialises it, so a careless `log.info({ idNumber, fullName })` or a message with an ID
 * number in it still prints no PII. This is the last line of defence, not a licence: code
 * should not pass PII to the logger in the first place.
 */
export function createLogger(options: LogOptions): Logger {
  const pinoOptions: LoggerOptions = {
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: {
      logMethod(args, method) {
        const clean = args.map((arg) => scrubValue(arg)) as Parameters<typeof method>;
        method.apply(this, clean);
      },
    },
    serializers: { err: (error: unknown) => scrubValue(error) },
  };
  const destination =
    options.destination ??
    (options.pretty
      ? pretty({
          sync: true,
          colorize: process.stdout.isTTY,
          translateTime: 'HH:MM:ss.l',
          ignore: 'pid,hostname',
          singleLine: true,
        })
      : pino.destination({ sync: true }));
  return pino(pinoOptions, destination);
}
