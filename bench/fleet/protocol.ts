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
  | { kind: 'connects'; firsts: number[] }
  | { kind: 'failed'; error: string };

export type ParentMessage = { kind: 'stop' } | { kind: 'connects'; since: number };

export const kioskIdOf = (index: number) => `bench-${String(index).padStart(5, '0')}`;
