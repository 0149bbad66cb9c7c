/**
 * The Host allow-list of the local UI (issue 12, DNS rebinding). A page of some web site whose
 * name the attacker re-points at 127.0.0.1 is same-origin with itself, not with the kiosk: its
 * requests reach the loopback server with `Host: evil.example:8080`, and the Origin checks of
 * `/demo/control` and the WebSocket compare the Origin with that very Host, so they pass. Only the
 * names the kiosk's own browser uses are accepted: 127.0.0.1, localhost, [::1] and the configured
 * ones (`ui.hostNames`).
 */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/** The host name of a Host header value without its port, lower-cased; undefined if malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (!header || header.length > 260) return undefined;
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(header.trim());
  return match?.[1]?.toLowerCase();
}

export function allowedHosts(configured: readonly string[] = []): ReadonlySet<string> {
  return new Set([...LOOPBACK_NAMES, ...configured.map((name) => name.toLowerCase())]);
}

export function hostAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  const name = hostName(header);
  return name !== undefined && allowed.has(name);
}
