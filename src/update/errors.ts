/**
 * Why a kiosk refused an update. Each refusal carries one reason code (for telemetry, the ops
 * dashboard and tests) and a short PII-free detail for people. Classified by code, never by text.
 */
export const REFUSAL_REASONS = {
  'tampered-target': 'the downloaded bundle does not match the length and hashes in signed metadata',
  'not-in-metadata': 'the requested file is not listed in the signed targets metadata',
  'expired-metadata': 'signed metadata has expired (freeze protection)',
  rollback: 'signed metadata is older than metadata this kiosk already trusts (rollback protection)',
  'below-threshold': 'metadata is not signed by enough trusted keys',
  'bad-metadata': 'signed metadata is malformed or inconsistent',
  'other-target': 'the bundle is built for another platform',
  'other-abi': 'the bundle is built for another Node.js ABI',
  downgrade: 'the bundle is older than the running release',
  'up-to-date': 'the bundle is the running release',
  'config-schema': 'the bundle needs a newer configuration schema than this kiosk has',
  'bad-bundle': 'the bundle contents do not match its manifest',
  'disk-space': 'not enough free disk space for the download and the unpacked release',
  unreachable: 'the update repository cannot be reached',
} as const;

export type RefusalReason = keyof typeof REFUSAL_REASONS;

export class UpdateRefused extends Error {
  override readonly name = 'UpdateRefused';
  constructor(
    readonly reason: RefusalReason,
    readonly detail: string,
  ) {
    super(`update refused (${reason}): ${detail}`);
  }
}
