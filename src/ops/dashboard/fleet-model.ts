/**
 * The dashboard's picture of the fleet, built from what kiosks publish: the retained
 * `kiosk.status` (presence, versions, lock) and the periodic `kiosk.telemetry` (parts, queue,
 * inventory, service reasons, recent faults). Pure: no MQTT, no clock of its own. It remembers
 * which kiosks changed so the server can send the browser one batch per tick instead of one
 * message per MQTT publish (10,000 kiosks each sending telemetry would otherwise flood it).
 */
import type { StatusBody, TelemetryBody } from '../../link/messages.js';

/** One line of the fleet table: small, because 10,000 of them go to the browser at first paint. */
export interface KioskRow {
  id: string;
  online: boolean;
  /** when the kiosk last said anything (status or telemetry), ISO 8601 */
  lastSeen: string;
  software: string | null;
  /** config versions in force, fleet-wide and own; null until the kiosk says */
  config: { fleet: number; kiosk: number } | null;
  locked: boolean;
  inService: boolean;
  /** why the kiosk serves no citizens (locked by operations, store full…); empty while in service */
  reasons: string[];
  queue: number | null;
  /** age of the oldest unsent event, seconds */
  queueOldest: number | null;
  /** cards by state (in-slot, dispensed, captured…) */
  inventory: Record<string, number>;
  /** parts not up (or devices not ok), e.g. `devices.printer: missing` */
  unwell: string[];
  /** the newest fault code, for the table; the detail view has the list */
  lastFault: string | null;
}

/** What the detail view adds to a row: every part's health and the recent faults. */
export interface KioskDetail extends KioskRow {
  uptimeSeconds: number | null;
  parts: Record<string, { state: string; detail?: string }>;
  devices: Record<string, string>;
  faults: Array<{ code: string; at: string }>;
  telemetryAt: string | null;
  statusAt: string | null;
}

function emptyDetail(id: string, ts: string): KioskDetail {
  return {
    id,
    online: false,
    lastSeen: ts,
    software: null,
    config: null,
    locked: false,
    inService: false,
    reasons: [],
    queue: null,
    queueOldest: null,
    inventory: {},
    unwell: [],
    lastFault: null,
    uptimeSeconds: null,
    parts: {},
    devices: {},
    faults: [],
    telemetryAt: null,
    statusAt: null,
  };
}

function later(a: string, b: string): string {
  return Date.parse(b) > Date.parse(a) ? b : a;
}

function unwellOf(detail: KioskDetail): string[] {
  const parts = Object.entries(detail.parts)
    .filter(([, part]) => part.state !== 'up')
    .map(([name, part]) => `${name}: ${part.state}`);
  const devices = Object.entries(detail.devices)
    .filter(([name, state]) => state !== 'ok' && state !== 'disabled' && !(`devices.${name}` in detail.parts))
    .map(([name, state]) => `devices.${name}: ${state}`);
  return [...parts, ...devices].slice(0, 20);
}

export class FleetModel {
  private readonly kiosks = new Map<string, KioskDetail>();
  private readonly changed = new Set<string>();

  get size(): number {
    return this.kiosks.size;
  }

  /**
   * A retained status (or the last will `{online:false}`, which says nothing else: what it leaves
   * out stays as the kiosk last said it).
   */
  applyStatus(id: string, status: StatusBody, ts: string): void {
    const detail = this.kiosks.get(id) ?? emptyDetail(id, ts);
    detail.online = status.online;
    detail.statusAt = ts;
    detail.lastSeen = later(detail.lastSeen, ts);
    if (status.version !== undefined) detail.software = status.version;
    if (status.configVersions) detail.config = { ...status.configVersions };
    if (status.devices) detail.devices = { ...status.devices };
    if (status.queueDepth !== undefined) detail.queue = status.queueDepth;
    if (status.locked !== undefined) detail.locked = status.locked;
    // a kiosk that speaks (not its last will) says whether it is out of service
    if (status.online || status.version !== undefined) {
      detail.reasons = status.outOfService ? [status.outOfService] : [];
      detail.inService = !status.outOfService;
    }
    this.store(detail);
  }

  /** A telemetry message: the fuller picture, newer than the status it follows. */
  applyTelemetry(id: string, telemetry: TelemetryBody, ts: string): void {
    const detail = this.kiosks.get(id) ?? emptyDetail(id, ts);
    // telemetry is only sent while connected: it proves the kiosk online even before its status
    detail.online = true;
    detail.telemetryAt = ts;
    detail.lastSeen = later(detail.lastSeen, ts);
    detail.uptimeSeconds = telemetry.uptimeSeconds;
    detail.parts = { ...telemetry.parts };
    detail.queue = telemetry.queue.depth;
    detail.queueOldest = telemetry.queue.oldestAgeSeconds;
    detail.inventory = { ...telemetry.inventory };
    detail.software = telemetry.versions.software;
    detail.config = { ...telemetry.versions.config };
    detail.locked = telemetry.service.locked;
    detail.inService = telemetry.service.inService;
    detail.reasons = [...telemetry.service.reasons];
    detail.faults = telemetry.faults.map((fault) => ({ ...fault }));
    this.store(detail);
  }

  /** A kiosk's retained status was cleared (an empty retained message): it left the fleet. */
  remove(id: string): void {
    if (this.kiosks.delete(id)) this.changed.add(id);
  }

  private store(detail: KioskDetail): void {
    detail.unwell = unwellOf(detail);
    detail.lastFault = detail.faults.at(-1)?.code ?? null;
    this.kiosks.set(detail.id, detail);
    this.changed.add(detail.id);
  }

  detail(id: string): KioskDetail | undefined {
    const detail = this.kiosks.get(id);
    return detail ? structuredClone(detail) : undefined;
  }

  rows(): KioskRow[] {
    return [...this.kiosks.values()].map(rowOf);
  }

  /** The rows changed since the last call, and the ids removed: one batch for the browsers. */
  takeChanges(): { rows: KioskRow[]; removed: string[] } {
    const rows: KioskRow[] = [];
    const removed: string[] = [];
    for (const id of this.changed) {
      const detail = this.kiosks.get(id);
      if (detail) rows.push(rowOf(detail));
      else removed.push(id);
    }
    this.changed.clear();
    return { rows, removed };
  }

  /** Highest config version any kiosk runs of its own (`kiosk`) and of the fleet's. */
  highestConfig(ids?: readonly string[]): { fleet: number; kiosk: number } {
    let fleet = 0;
    let kiosk = 0;
    for (const detail of ids ? ids.map((id) => this.kiosks.get(id)) : this.kiosks.values()) {
      fleet = Math.max(fleet, detail?.config?.fleet ?? 0);
      kiosk = Math.max(kiosk, detail?.config?.kiosk ?? 0);
    }
    return { fleet, kiosk };
  }

  has(id: string): boolean {
    return this.kiosks.has(id);
  }
}

function rowOf(detail: KioskDetail): KioskRow {
  return {
    id: detail.id,
    online: detail.online,
    lastSeen: detail.lastSeen,
    software: detail.software,
    config: detail.config,
    locked: detail.locked,
    inService: detail.inService,
    reasons: detail.reasons,
    queue: detail.queue,
    queueOldest: detail.queueOldest,
    inventory: detail.inventory,
    unwell: detail.unwell,
    lastFault: detail.lastFault,
  };
}
