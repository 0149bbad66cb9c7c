/** Commander option parsers shared by the kiosk-ops commands: each refuses with one clear line. */
import { InvalidArgumentError } from 'commander';

export function positiveInt(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number <= 0)
    throw new InvalidArgumentError('expected a positive integer');
  return number;
}

export function naturalInt(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0) throw new InvalidArgumentError('expected 0 or more');
  return number;
}

export function percent(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0 || number > 100)
    throw new InvalidArgumentError('expected a percentage above 0, at most 100');
  return number;
}

/** `a,b` given once or repeated: the kiosk ids, in order, blanks dropped. */
export function kioskList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((id) => id.trim())
      .filter(Boolean),
  ];
}
