/**
 * Which names a kiosk may carry. A kiosk's id is its certificate CN, hence its MQTT user name and
 * client id at the broker: a name that is, or looks like, a service's would read in the broker's
 * logs and ACL as that service. Enrolment, operations' registration and `kiosk provision` all ask here.
 */

/** 3–63 lower-case letters, digits or dashes, starting with a letter or digit (a DNS label). */
export const KIOSK_ID_PATTERN = /^[a-z0-9][a-z0-9-]{2,62}$/;

/** Names of services and broker roles, never a kiosk's. */
const RESERVED_IDS = new Set([
  'registry',
  'ops',
  'admin',
  'root',
  'broker',
  'mosquitto',
  'bootstrap',
  'enrol',
  'enroll',
  'service',
  'system',
  'sys',
  'all',
  'fleet',
  'kiosk',
  'localhost',
]);

/** Prefixes of service workers and of the enrolment broker's bridge (`registry-2`, `enrol-bridge`). */
const RESERVED_PREFIXES = ['registry-', 'ops-', 'enrol-', 'bootstrap-', 'service-', 'admin-', 'sys-'];

export type KioskIdProblem = 'pattern' | 'reserved';

/** Why `id` cannot be a kiosk's, or undefined when it can. Anything but a string is no id. */
export function kioskIdProblem(id: unknown): KioskIdProblem | undefined {
  if (typeof id !== 'string' || !KIOSK_ID_PATTERN.test(id)) return 'pattern';
  if (RESERVED_IDS.has(id) || RESERVED_PREFIXES.some((prefix) => id.startsWith(prefix))) return 'reserved';
  return undefined;
}

/** A sentence for the technician or operator, PII-free (an id is not personal data). */
export function describeKioskIdProblem(problem: KioskIdProblem): string {
  return problem === 'pattern'
    ? 'a kiosk id is 3–63 lower-case letters, digits or dashes, starting with a letter or digit'
    : 'this name is reserved for a service or the broker and can never be a kiosk id';
}
