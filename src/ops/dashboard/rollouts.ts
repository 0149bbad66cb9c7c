/**
 * What the dashboard needs of the staged-rollout engine (src/ops/rollout.ts): start one, steer it,
 * and list the records to show their progress. The engine owns the logic (canary, rate, abort
 * criteria, the record kept on disk); the dashboard only asks and shows.
 */

/** A rollout as the browser shows it: state, why, and how far each kiosk got. */
export interface RolloutView {
  id: string;
  state: string;
  reason?: string;
  createdBy: string;
  createdAt: string;
  payload: string;
  counts: Record<string, number>;
  /** kiosk → outcome (waiting, pushed, applied, healthy, refused, rolled-back…) with its detail */
  kiosks: Array<{ id: string; outcome: string; step?: number; detail?: string }>;
  steps: number;
}

export interface DashboardRollouts {
  /** starts a rollout from the operator's request (validated by the engine); resolves with its id */
  start(request: unknown, operator: string): Promise<string>;
  control(id: string, action: 'pause' | 'resume' | 'abort', operator: string): Promise<void>;
  list(): RolloutView[];
  /** called when any rollout changed, so the server sends the browsers a batch */
  onChange(listener: () => void): void;
  stop(): Promise<void>;
}
