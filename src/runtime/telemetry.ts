import type { FleetService } from '../fleet/index.js';
import type { KioskLink } from '../link/link.js';
import { type TelemetrySnapshot, TelemetryReporter } from '../link/telemetry.js';
import type { Store } from '../store/index.js';
import type { EventBus } from '../util/bus.js';
import type { RuntimeEvents } from '../util/events.js';
import type { Health } from '../util/lifecycle.js';
import type { Logger } from '../util/log.js';

export interface KioskTelemetryParts {
  kioskId: string;
  intervalMs: number;
  version: string;
  store: Store;
  fleet: FleetService;
  link: KioskLink;
  bus: EventBus<RuntimeEvents>;
  log: Logger;
  /** the lifecycle's health of every part */
  health: () => Record<string, Health>;
}

/** The runtime's telemetry: its picture from the store, the fleet room and the lifecycle. */
export function kioskTelemetry(parts: KioskTelemetryParts): TelemetryReporter {
  return new TelemetryReporter({
    kioskId: parts.kioskId,
    intervalMs: parts.intervalMs,
    bus: parts.bus,
    log: parts.log,
    publish: (topic, payload) => parts.link.publishQos0(topic, payload),
    snapshot: () => snapshot(parts),
  });
}

async function snapshot(parts: KioskTelemetryParts): Promise<TelemetrySnapshot> {
  const now = Date.now();
  const [queue, cards] = await Promise.all([
    parts.store.outboxStats(),
    parts.store
      .read()
      .all<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM vault_cards GROUP BY state'),
  ]);
  const service = parts.fleet.statusFields();
  const reasons = [
    ...(service.outOfService ? [service.outOfService] : []),
    ...(parts.store.acceptsNewSessions ? [] : ['store full: new citizen sessions refused']),
  ];
  return {
    parts: flatten(parts.health()),
    queue: {
      depth: queue.depth,
      oldestAgeSeconds:
        queue.oldestCreatedAt === null ? null : Math.max(0, Math.floor((now - queue.oldestCreatedAt) / 1000)),
    },
    inventory: Object.fromEntries(cards.map((row) => [row.state, row.n])),
    versions: { software: parts.version, config: service.configVersions },
    service: { inService: reasons.length === 0, locked: service.locked, reasons },
  };
}

/** `devices` with its sub-parts becomes `devices`, `devices.printer`, … (one level, as the dashboard lists them). */
function flatten(health: Record<string, Health>): TelemetrySnapshot['parts'] {
  const flat: TelemetrySnapshot['parts'] = {};
  for (const [name, part] of Object.entries(health)) {
    flat[name] = { state: part.state, ...(part.detail ? { detail: part.detail.slice(0, 300) } : {}) };
    for (const [sub, subPart] of Object.entries(part.parts ?? {}))
      flat[`${name}.${sub}`.slice(0, 64)] = {
        state: subPart.state,
        ...(subPart.detail ? { detail: subPart.detail.slice(0, 300) } : {}),
      };
  }
  return flat;
}
