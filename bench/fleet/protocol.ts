/** What bench/fleet/run.ts and its kiosk workers (kiosk-worker.ts) say to each other over IPC. */
export interface WorkerSpec {
  brokerUrl: string;
  opsPublicKey: string;
  dataRoot: string;
  first: number;
  count: number;
  /** the baseline's topic: each kiosk answers a message on it at once, with no checks */
  echoTopic: string;
}

export type WorkerMessage =
  | { kind: 'ready'; kiosks: number; descriptorsPerKiosk: number; buildMs: number; rssMb: number }
  | { kind: 'tick'; connected: number; connects: number[]; rssMb: number; cpuMs: number; lagMaxMs: number }
  /** per kiosk: first connect at or after `since`, and the failed attempts (closes) before it */
  | { kind: 'connects'; firsts: number[]; attempts: number[] }
  | { kind: 'failed'; error: string };

export type ParentMessage = { kind: 'stop' } | { kind: 'connects'; since: number };

export const kioskIdOf = (index: number) => `bench-${String(index).padStart(5, '0')}`;
