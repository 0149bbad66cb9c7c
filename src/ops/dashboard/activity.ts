/**
 * What operators did from the dashboard and what the kiosks answered: one entry per kiosk per
 * action, `sent` until its `command.result` (matched by correlationId) or `config.result`
 * (matched by the config message id) arrives. Bounded; the newest entries are kept. PII-free:
 * operator names, kiosk ids, command names and the kiosks' reason codes only.
 */
import type { MessageBody } from '../../link/messages.js';

export const MAX_ACTIVITY = 500;

export interface ActivityEntry {
  seq: number;
  at: string;
  operator: string;
  action: string;
  kioskId: string;
  state: 'sent' | 'ok' | 'applied' | 'pending-restart' | 'refused' | 'failed' | 'rolled-back';
  detail?: string;
  /** correlationId of a command, or id of a config message */
  ref: string;
}

export class ActivityLog {
  private readonly entries: ActivityEntry[] = [];
  private readonly changed = new Set<ActivityEntry>();
  private seq = 0;

  constructor(private readonly now: () => number = Date.now) {}

  record(entry: Omit<ActivityEntry, 'seq' | 'at' | 'state'>): ActivityEntry {
    const full: ActivityEntry = {
      ...entry,
      seq: ++this.seq,
      at: new Date(this.now()).toISOString(),
      state: 'sent',
    };
    this.entries.push(full);
    if (this.entries.length > MAX_ACTIVITY) this.entries.splice(0, this.entries.length - MAX_ACTIVITY);
    this.changed.add(full);
    return full;
  }

  commandAnswered(correlationId: string, body: MessageBody<'command.result'>): void {
    const entry = this.entries.find((candidate) => candidate.ref === correlationId);
    if (!entry) return; // another operator's command (the CLI): not ours to show
    this.settle(entry, body.status, body.reason ?? body.detail);
  }

  configAnswered(kioskId: string, body: MessageBody<'config.result'>): void {
    const entry = this.entries.find(
      (candidate) => candidate.ref === body.configId && candidate.kioskId === kioskId,
    );
    // a fleet-wide config is one entry for `*`: the first answers settle it, later ones add up
    const fleetEntry = this.entries.find(
      (candidate) => candidate.ref === body.configId && candidate.kioskId === '*',
    );
    // `kept` (passed probation) settles like `applied`: the config is in effect and stays
    if (entry)
      this.settle(entry, body.status === 'kept' ? 'applied' : body.status, body.reason ?? body.detail);
    else if (fleetEntry) {
      fleetEntry.detail = `${kioskId}: ${body.status}${body.reason ? ` (${body.reason})` : ''}`;
      this.changed.add(fleetEntry);
    }
  }

  /**
   * A kiosk's release guard rolled its software back (issue 14): an entry of its own, whoever
   * ordered the update, so operators see it. The event's id (stable across the kiosk's re-sends)
   * keeps it to one entry.
   */
  softwareRolledBack(kioskId: string, eventId: string, body: MessageBody<'software.rolledBack'>): void {
    if (this.entries.some((entry) => entry.ref === eventId)) return;
    const entry = this.record({ operator: 'kiosk', action: 'software rollback', kioskId, ref: eventId });
    this.settle(entry, 'rolled-back', `${body.from} -> ${body.to} (${body.reason})`);
  }

  private settle(entry: ActivityEntry, state: ActivityEntry['state'], detail?: string): void {
    entry.state = state;
    if (detail) entry.detail = detail.slice(0, 200);
    this.changed.add(entry);
  }

  all(): ActivityEntry[] {
    return this.entries.map((entry) => ({ ...entry }));
  }

  takeChanges(): ActivityEntry[] {
    const changed = [...this.changed].map((entry) => ({ ...entry }));
    this.changed.clear();
    return changed;
  }
}
