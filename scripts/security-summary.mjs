// Prints the attack ledger written by test/security (one line per attack) and the closing figure.
// Exits non-zero when any attack was accepted or none was recorded.
import { existsSync, readFileSync } from 'node:fs';

const ledger = process.argv[2] ?? 'test-results/security-attacks.jsonl';
const outcomes = existsSync(ledger)
  ? readFileSync(ledger, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line))
  : [];
for (const { name, refused, reason } of outcomes) {
  console.log(`attack ${name}: ${refused ? 'refused' : 'ACCEPTED'} (${reason})`);
}
const accepted = outcomes.filter((outcome) => !outcome.refused).length;
console.log(`figure: attacks accepted: ${accepted} of ${outcomes.length} (target: 0)`);
process.exit(accepted > 0 || outcomes.length === 0 ? 1 : 0);
