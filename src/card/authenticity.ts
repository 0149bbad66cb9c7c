import { type AaVerdict } from './aa.js';
import { type PaVerdict } from './pa.js';

/** Outcome of Chip Authentication (part 11 §6.2): passed = the chip went on under the CA keys. */
export interface CaVerdict {
  status: 'passed' | 'failed' | 'not-supported';
  detail?: string;
}

/**
 * "Chip authentic" = PA ∧ (CA ∨ AA), where a CA or AA verdict counts only when the key it used
 * is bound to the document: DG14 (CA) or DG15 (AA) hashed in the SOD, and the SOD passed PA.
 * Without the binding, a cloned chip with its own key pair (and its own DG14/DG15) passes CA or
 * AA; the binding is what turns "the chip has a key" into "the chip has THE key".
 */
export interface Authenticity {
  authentic: boolean;
  passive: boolean;
  chipAuthentication: CaVerdict['status'];
  activeAuthentication: AaVerdict['status'];
  /** CA passed with the key of a DG14 that PA verified */
  caBound: boolean;
  /** AA passed with the key of a DG15 that PA verified */
  aaBound: boolean;
  /** why it is not authentic; empty when it is */
  reasons: string[];
}

function hashVerified(passive: PaVerdict, dataGroup: number): boolean {
  return passive.checks.some((c) => c.check === 'dg-hash' && c.dataGroup === dataGroup && c.passed);
}

export function assessAuthenticity(passive: PaVerdict, ca: CaVerdict, aa: AaVerdict): Authenticity {
  const caBound = passive.passed && ca.status === 'passed' && hashVerified(passive, 14);
  const aaBound = passive.passed && aa.status === 'passed' && hashVerified(passive, 15);
  const reasons: string[] = [];
  if (!passive.passed)
    reasons.push(`passive authentication failed: ${passive.failures.map((f) => f.check).join(', ')}`);
  if (ca.status === 'passed' && !caBound) reasons.push('CA passed with a key not bound by a verified DG14');
  if (aa.status === 'passed' && !aaBound) reasons.push('AA passed with a key not bound by a verified DG15');
  if (ca.status !== 'passed' && aa.status !== 'passed')
    reasons.push('neither Chip nor Active Authentication passed');
  const authentic = passive.passed && (caBound || aaBound);
  return {
    authentic,
    passive: passive.passed,
    chipAuthentication: ca.status,
    activeAuthentication: aa.status,
    caBound,
    aaBound,
    reasons: authentic ? [] : reasons,
  };
}
