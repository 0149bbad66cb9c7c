/**
 * The attack ledger of `npm run test:security`. Each attack test records what it tried and how the
 * system answered; `scripts/security-summary.mjs` prints one line per attack and the closing
 * `figure: attacks accepted: N of M`. An attack is "accepted" when the system did what the attacker
 * wanted, so a test must record the outcome it observed, never a constant.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LEDGER = join(
  fileURLToPath(new URL('../../', import.meta.url)),
  'test-results',
  'security-attacks.jsonl',
);

export interface AttackOutcome {
  /** short kebab-case name, e.g. `forged-manifest-restage` */
  name: string;
  /** true when the system refused the attack */
  refused: boolean;
  /** the reason the system gave (refusal reason, MQTT reason code, HTTP status …); PII-free */
  reason: string;
}

/** Appends the observed outcome to the ledger and returns it (so a test can also `expect` it). */
export function recordAttack(outcome: AttackOutcome): AttackOutcome {
  mkdirSync(dirname(LEDGER), { recursive: true });
  appendFileSync(LEDGER, `${JSON.stringify(outcome)}\n`);
  return outcome;
}

export const ATTACK_LEDGER = LEDGER;
