/**
 * Version of the configuration schema's shape. Raise it when a release can no longer read the
 * configuration files of older releases; release bundles name the oldest schema they accept
 * (src/update/manifest.ts) so a kiosk never switches to software that cannot read its config.
 */
export const CONFIG_SCHEMA_VERSION = 1;
