/**
 * A test harness that runs the REAL systemd unit files of deploy/systemd with real processes in a
 * temporary root. There is no systemd as PID 1 in this environment (a container without an init
 * manager), so `systemctl` cannot run them; this harness reads the same unit files and implements
 * the part of the service manager the A/B rollback (issue 14) depends on, nothing more.
 *
 * Implemented (the man pages of systemd 252, as on Debian bookworm):
 * - systemd.syntax(7): sections, `Key=value`, `#`/`;` comments, backslash line continuation, a key
 *   repeated appends, an empty assignment resets the list.
 * - systemd.service(5) "Command lines": words split at whitespace with "double" and 'single'
 *   quotes; the prefixes `+` (full privileges: this harness runs everything as the calling user,
 *   which is root here), `-` (failure ignored), `@`, `:` and `!`/`!!` are recognised; `@` changes argv[0].
 * - Type=simple, Type=notify (active once READY=1 arrives on NOTIFY_SOCKET: a unix datagram
 *   socket the harness listens on through a small python3 receiver, because node:dgram has no
 *   AF_UNIX datagram sockets; any process may notify, as NotifyAccess=all says; passed file
 *   descriptors, such as systemd-notify's BARRIER=1 pipe, are closed at once, as systemd does after
 *   processing), Type=oneshot (active once ExecStart= exited 0).
 * - ExecStartPre= in order, each must succeed; ExecStart=; ExecStartPost= once active.
 * - TimeoutStartSec= (no READY=1 in time: the start fails, its processes are killed).
 * - Restart=no|always|on-failure, RestartSec= (optionally scaled down by `restartSecScale` for
 *   test speed: the tests say so where they use it), and a failed ExecStartPre= restarts like a
 *   failed main process.
 * - systemd.unit(5) StartLimitIntervalSec=/StartLimitBurst=: more than Burst starts within the
 *   interval fail the unit with result "start-limit-hit"; automatic restarts count.
 * - OnFailure=: the listed units are started when the unit enters the failed state (restarts given
 *   up, or a failure with no Restart=), not on each failure that Restart= retries.
 * - `systemctl reset-failed UNIT` (clears the failed state and the start-limit counter) and
 *   `systemctl start [--no-block] UNIT` in any Exec line run as the harness's own equivalents.
 * - WorkingDirectory=, Environment= (with quotes), stop as in systemctl stop: SIGTERM to the
 *   process group (standing in for the unit's cgroup), SIGKILL after TimeoutStopSec=; and
 *   `systemctl kill --kill-whom=main|control|all` for tests that kill a process mid-step (a control
 *   process killed by a signal fails the start, as in systemd).
 *
 * Not implemented (parsed or ignored, never faked): User=/Group=/SupplementaryGroups= (all runs as
 * the calling user), every sandboxing setting (ProtectSystem=, ReadWritePaths=, DevicePolicy=,
 * SystemCallFilter=, ...), StateDirectory=/ConfigurationDirectory=/UMask=, WatchdogSec= (pings are
 * received but nobody acts on a missed one), [Install], Wants=/After= ordering, and the unit
 * dependency graph beyond OnFailure=.
 *
 * Install paths in the units are rewritten into the temporary root (`paths`): /opt/cccd-kiosk,
 * /var/lib/cccd-kiosk, /etc/cccd-kiosk/kiosk.json and /usr/bin/node (this Node).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// ---------------------------------------------------------------- parsing (pure)

export type UnitSections = Map<string, Map<string, string[]>>;

/** systemd.syntax(7): sections of keys, each key's values in order (a repeated key appends). */
export function parseUnitText(text: string): UnitSections {
  const sections: UnitSections = new Map();
  let current: Map<string, string[]> | undefined;
  const joined = text.replace(/\\\r?\n/g, ' ');
  for (const raw of joined.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      current = sections.get(header[1]!) ?? new Map<string, string[]>();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq <= 0) throw new Error(`unit file: not a setting: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    // an empty assignment resets the list built so far
    current.set(key, value === '' ? [] : [...(current.get(key) ?? []), value]);
  }
  return sections;
}

/** systemd.time(7) time spans: "10min", "3s", "1min 30s", "250ms"; a bare number is seconds. */
export function parseTimespanMs(text: string): number {
  const units: Record<string, number> = {
    us: 0.001,
    usec: 0.001,
    ms: 1,
    msec: 1,
    s: 1000,
    sec: 1000,
    second: 1000,
    seconds: 1000,
    m: 60_000,
    min: 60_000,
    minute: 60_000,
    minutes: 60_000,
    h: 3_600_000,
    hr: 3_600_000,
    hour: 3_600_000,
    hours: 3_600_000,
  };
  if (text.trim() === 'infinity') return Number.POSITIVE_INFINITY;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)\s*([a-z]*)/g)];
  if (
    parts.length === 0 ||
    parts
      .map((p) => p[0])
      .join('')
      .replace(/\s/g, '') !== text.replace(/\s/g, '')
  )
    throw new Error(`unit file: not a time span: ${text}`);
  return parts.reduce((sum, [, n, unit]) => {
    const scale = unit === '' ? 1000 : units[unit!];
    if (scale === undefined) throw new Error(`unit file: unknown time unit in ${text}`);
    return sum + Number(n) * scale;
  }, 0);
}

/**
 * systemd.service(5) "Command lines": words split at whitespace; "double" and 'single' quoted
 * parts (also inside a word, as in Environment=C="x y") keep their spaces; backslash escapes.
 */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && quote !== "'" && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word = word ?? '';
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? '') + ch;
  }
  if (quote !== undefined) throw new Error(`unit file: unbalanced quotes: ${text}`);
  if (word !== undefined) words.push(word);
  return words;
}

export interface ExecCommand {
  argv: string[];
  /** `+`: run with full privileges, outside the sandbox */
  privileged: boolean;
  /** `-`: a failure is recorded but ignored */
  ignoreFailure: boolean;
}

export function parseExec(value: string): ExecCommand {
  const prefix = /^[-+@:!]*/.exec(value)![0];
  const argv = splitCommandLine(value.slice(prefix.length));
  if (argv.length === 0) throw new Error(`unit file: empty command line: ${value}`);
  if (prefix.includes('@')) argv.splice(1, 1); // "@": the second word is argv[0], dropped here
  return { argv, privileged: prefix.includes('+'), ignoreFailure: prefix.includes('-') };
}

export type RestartPolicy = 'no' | 'always' | 'on-failure';

export interface ServiceUnit {
  name: string;
  type: 'simple' | 'notify' | 'oneshot';
  execStartPre: ExecCommand[];
  execStart: ExecCommand[];
  execStartPost: ExecCommand[];
  restart: RestartPolicy;
  restartSecMs: number;
  timeoutStartMs: number;
  timeoutStopMs: number;
  startLimitIntervalMs: number;
  startLimitBurst: number;
  onFailure: string[];
  workingDirectory: string | undefined;
  environment: Record<string, string>;
  /** settings this harness reads but does not enforce (see the header) */
  ignored: string[];
}

const IMPLEMENTED = new Set([
  'Type',
  'ExecStartPre',
  'ExecStart',
  'ExecStartPost',
  'Restart',
  'RestartSec',
  'TimeoutStartSec',
  'TimeoutStopSec',
  'WorkingDirectory',
  'Environment',
  'NotifyAccess',
]);

const last = (values: string[] | undefined): string | undefined => values?.at(-1);

function parseCount(text: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`unit file: not a count: ${text}`);
  return Number(text);
}

function parseEnvironment(values: string[]): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const word of values.flatMap(splitCommandLine)) {
    const eq = word.indexOf('=');
    if (eq > 0) environment[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return environment;
}

/** A service unit from its text; `rewrite` maps the install paths into the temporary root. */
export function parseServiceUnit(
  name: string,
  text: string,
  rewrite: (s: string) => string = (s) => s,
): ServiceUnit {
  const sections = parseUnitText(rewrite(text));
  const unit = sections.get('Unit') ?? new Map<string, string[]>();
  const service = sections.get('Service') ?? new Map<string, string[]>();
  const type = last(service.get('Type')) ?? 'simple';
  if (type !== 'simple' && type !== 'notify' && type !== 'oneshot')
    throw new Error(`${name}: Type=${type} is not implemented by this harness`);
  const restart = last(service.get('Restart')) ?? 'no';
  if (restart !== 'no' && restart !== 'always' && restart !== 'on-failure')
    throw new Error(`${name}: Restart=${restart} is not implemented by this harness`);
  const execStart = (service.get('ExecStart') ?? []).map(parseExec);
  if (execStart.length === 0 || (execStart.length > 1 && type !== 'oneshot'))
    throw new Error(`${name}: needs exactly one ExecStart= (several only for Type=oneshot)`);
  const time = (key: string, fallback: string, from = service) =>
    parseTimespanMs(last(from.get(key)) ?? fallback);
  return {
    name,
    type,
    execStartPre: (service.get('ExecStartPre') ?? []).map(parseExec),
    execStart,
    execStartPost: (service.get('ExecStartPost') ?? []).map(parseExec),
    restart,
    // systemd-system.conf(5) defaults: DefaultRestartSec=100ms, DefaultTimeoutStartSec=90s,
    // DefaultStartLimitIntervalSec=10s, DefaultStartLimitBurst=5
    restartSecMs: time('RestartSec', '100ms'),
    timeoutStartMs: type === 'oneshot' ? Number.POSITIVE_INFINITY : time('TimeoutStartSec', '90s'),
    timeoutStopMs: time('TimeoutStopSec', '90s'),
    startLimitIntervalMs: time('StartLimitIntervalSec', '10s', unit),
    startLimitBurst: parseCount(last(unit.get('StartLimitBurst')) ?? '5'),
    onFailure: (unit.get('OnFailure') ?? []).flatMap(splitCommandLine),
    workingDirectory: last(service.get('WorkingDirectory')),
    environment: parseEnvironment(service.get('Environment') ?? []),
    ignored: [...service.keys()].filter((key) => !IMPLEMENTED.has(key)),
  };
}

/** Install paths of deploy/install.sh, longest first so that no prefix hides a longer path. */
export interface InstallPaths {
  '/etc/cccd-kiosk/kiosk.json': string;
  '/opt/cccd-kiosk': string;
  '/var/lib/cccd-kiosk': string;
  '/usr/bin/node': string;
}

export function pathRewriter(paths: InstallPaths): (text: string) => string {
  const pairs = Object.entries(paths).sort(([a], [b]) => b.length - a.length);
  return (text) => pairs.reduce((out, [from, to]) => out.split(from).join(to), text);
}

// ---------------------------------------------------------------- running (real processes)

export type UnitState = 'inactive' | 'activating' | 'active' | 'auto-restart' | 'failed' | 'deactivating';

export interface UnitEvent {
  unit: string;
  /**
   * 'start' (a start job began), 'ready', 'finished' (a oneshot done), 'exited', 'restart',
   * 'start-timeout', 'failed', 'start-limit-hit', 'on-failure'
   */
  kind: string;
  detail?: string;
}

export interface ServiceManagerOptions {
  /** directory holding the unit files (deploy/systemd) */
  unitDir: string;
  paths: InstallPaths;
  /** RestartSec= is multiplied by this (default 1): tests shorten the 3 s pause, and say so */
  restartSecScale?: number;
  /** extra environment for every process (e.g. a log level); the unit's Environment= wins */
  environment?: Record<string, string>;
  /** where NOTIFY_SOCKET and the process logs live */
  runDir: string;
}

interface RunningUnit {
  unit: ServiceUnit;
  state: UnitState;
  starts: number[];
  main: ChildProcess | undefined;
  /** the running ExecStartPre=/ExecStartPost= (or a oneshot's ExecStart=) process */
  control: ChildProcess | undefined;
  /** bumped by stop/start so that a stale exit handler does nothing */
  generation: number;
  restartTimer: NodeJS.Timeout | undefined;
}

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Receives sd_notify(3) datagrams; closes passed descriptors (systemd-notify's barrier pipe). */
const NOTIFY_RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("LISTENING", flush=True)
while True:
    msg, fds, _, _ = socket.recv_fds(s, 65536, 16)
    for fd in fds:
        os.close(fd)
    sys.stdout.write(msg.decode("utf-8", "replace").replace("\\n", " ") + "\\n")
    sys.stdout.flush()
`;

/** A small service manager over the real unit files; see the header for what it implements. */
export class ServiceManager {
  private readonly units = new Map<string, RunningUnit>();
  private readonly rewrite: (text: string) => string;
  readonly events: UnitEvent[] = [];
  private readonly output: string[] = [];
  private notifyReceiver: ChildProcess | undefined;
  private readonly notifySocket: string;
  private readonly notifyListeners = new Set<(message: string) => void>();
  private closed = false;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly options: ServiceManagerOptions) {
    this.rewrite = pathRewriter(options.paths);
    this.notifySocket = join(options.runDir, 'notify.sock');
  }

  /** Loads (and parses) a unit file from unitDir, with the install paths rewritten. */
  unit(name: string): ServiceUnit {
    return this.load(name).unit;
  }

  state(name: string): UnitState {
    return this.load(name).state;
  }

  /** Every line the units' processes wrote, prefixed with the unit name. */
  log(): string {
    return this.output.join('');
  }

  private load(name: string): RunningUnit {
    let running = this.units.get(name);
    if (!running) {
      const unit = parseServiceUnit(
        name,
        readFileSync(join(this.options.unitDir, name), 'utf8'),
        this.rewrite,
      );
      running = {
        unit,
        state: 'inactive',
        starts: [],
        main: undefined,
        control: undefined,
        generation: 0,
        restartTimer: undefined,
      };
      this.units.set(name, running);
    }
    return running;
  }

  private emit(event: UnitEvent): void {
    this.events.push(event);
    this.output.push(`[harness] ${event.unit}: ${event.kind}${event.detail ? ` (${event.detail})` : ''}\n`);
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise)).catch(() => undefined);
    return promise;
  }

  /** `systemctl start UNIT`: a start job (no-op when active or activating). */
  start(name: string): Promise<void> {
    const running = this.load(name);
    if (running.state === 'active' || running.state === 'activating') return Promise.resolve();
    clearTimeout(running.restartTimer);
    return this.track(this.startJob(running, running.generation + 1));
  }

  /** `systemctl reset-failed UNIT`: leaves the failed state and forgets the start-limit counter. */
  resetFailed(name: string): void {
    const running = this.load(name);
    running.starts = [];
    if (running.state === 'failed') running.state = 'inactive';
  }

  /** `systemctl stop UNIT`: SIGTERM to the process group, SIGKILL after TimeoutStopSec=. */
  async stop(name: string): Promise<void> {
    const running = this.load(name);
    running.generation++;
    clearTimeout(running.restartTimer);
    running.state = 'deactivating';
    await this.terminate(running.main, running.unit.timeoutStopMs);
    running.main = undefined;
    running.state = 'inactive';
  }

  /**
   * `systemctl kill --kill-whom=main|control|all --signal=SIG UNIT`: signals the unit's main or
   * control process group (a power cut or the OOM killer, as far as that process can tell).
   */
  kill(name: string, whom: 'main' | 'control' | 'all', signal: NodeJS.Signals): void {
    const running = this.load(name);
    const targets = [
      whom !== 'control' ? running.main : undefined,
      whom !== 'main' ? running.control : undefined,
    ];
    for (const child of targets) {
      if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    }
  }

  /** Resolves once `predicate` holds, checking after each event; rejects after `timeoutMs`. */
  async until(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await predicate())) {
      if (Date.now() > deadline)
        throw new Error(`harness: ${what} did not happen\n${this.log().slice(-6000)}`);
      await sleep(50);
    }
  }

  /** Stops every unit and the notify receiver. */
  async close(): Promise<void> {
    this.closed = true;
    for (const name of this.units.keys()) await this.stop(name);
    await Promise.allSettled([...this.pending]);
    this.notifyReceiver?.kill('SIGTERM');
    rmSync(this.notifySocket, { force: true });
  }

  private async ensureNotifySocket(): Promise<void> {
    if (this.notifyReceiver) return;
    rmSync(this.notifySocket, { force: true });
    const receiver = spawn(PYTHON, ['-c', NOTIFY_RECEIVER, this.notifySocket], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.notifyReceiver = receiver;
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      receiver.once('error', reject);
      receiver.stdout!.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line === 'LISTENING') resolve();
          else for (const listener of this.notifyListeners) listener(line);
        }
      });
    });
  }

  /** One start job: start limit, ExecStartPre=, ExecStart=, readiness, ExecStartPost=. */
  private async startJob(running: RunningUnit, generation: number): Promise<void> {
    const { unit } = running;
    running.generation = generation;
    const now = Date.now();
    running.starts = running.starts.filter((at) => now - at < unit.startLimitIntervalMs);
    if (running.starts.length >= unit.startLimitBurst) {
      this.emit({ unit: unit.name, kind: 'start-limit-hit' });
      return this.enterFailed(running, 'start-limit-hit');
    }
    running.starts.push(now);
    running.state = 'activating';
    this.emit({ unit: unit.name, kind: 'start' });
    for (const command of unit.execStartPre) {
      const code = await this.runToEnd(running, command);
      if (running.generation !== generation) return;
      if (code !== 0 && !command.ignoreFailure)
        return this.failed(running, generation, `ExecStartPre exit ${code}`);
    }
    if (unit.type === 'oneshot') {
      for (const command of unit.execStart) {
        const code = await this.runToEnd(running, command);
        if (running.generation !== generation) return;
        if (code !== 0 && !command.ignoreFailure)
          return this.failed(running, generation, `ExecStart exit ${code}`);
      }
      running.state = 'active';
      this.emit({ unit: unit.name, kind: 'ready' });
      await this.runPost(running, generation);
      if (running.generation !== generation || running.state !== 'active') return;
      running.state = 'inactive'; // a oneshot without RemainAfterExit= is inactive once done
      this.emit({ unit: unit.name, kind: 'finished' });
      return;
    }
    const ready = await this.runMain(running, generation);
    if (!ready || running.generation !== generation) return;
    running.state = 'active';
    this.emit({ unit: unit.name, kind: 'ready' });
    await this.runPost(running, generation);
  }

  private async runPost(running: RunningUnit, generation: number): Promise<void> {
    for (const command of running.unit.execStartPost) {
      const code = await this.runToEnd(running, command);
      if (running.generation !== generation) return;
      if (code !== 0 && !command.ignoreFailure)
        return this.failed(running, generation, `ExecStartPost exit ${code}`);
    }
  }

  /** Starts the main process; resolves true once it counts as started (Type=notify: READY=1). */
  private async runMain(running: RunningUnit, generation: number): Promise<boolean> {
    const { unit } = running;
    if (unit.type === 'notify') await this.ensureNotifySocket();
    const child = this.spawnCommand(unit, unit.execStart[0]!, {
      NOTIFY_SOCKET: this.notifySocket,
    });
    running.main = child;
    const exited = new Promise<string>((resolve) =>
      child.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `exit ${code}`)),
    );
    void exited.then((how) => {
      if (running.main !== child) return;
      running.main = undefined;
      this.emit({ unit: unit.name, kind: 'exited', detail: how });
      if (running.generation === generation && !this.closed) this.failed(running, generation, how);
    });
    if (unit.type === 'simple') return true;
    // Type=notify: READY=1 (from any process: NotifyAccess=all), or the exit, or TimeoutStartSec=
    let onMessage: (message: string) => void = () => undefined;
    const ready = new Promise<boolean>((resolve) => {
      onMessage = (message) => {
        if (/(^| )READY=1( |$)/.test(message)) resolve(true);
      };
      this.notifyListeners.add(onMessage);
    });
    const timeout = sleep(unit.timeoutStartMs, 'timeout' as const);
    const outcome = await Promise.race([ready, exited.then(() => false), timeout]);
    this.notifyListeners.delete(onMessage);
    if (outcome === 'timeout') {
      this.emit({ unit: unit.name, kind: 'start-timeout' });
      await this.terminate(child, unit.timeoutStopMs);
      return false;
    }
    return outcome;
  }

  /** A failure: Restart= decides between a restart after RestartSec= and the failed state. */
  private failed(running: RunningUnit, generation: number, detail: string): void {
    if (running.generation !== generation || this.closed) return;
    const { unit } = running;
    const clean = detail === 'exit 0';
    const restart = unit.restart === 'always' || (unit.restart === 'on-failure' && !clean);
    if (!restart) {
      if (clean) {
        running.state = 'inactive';
        return;
      }
      return this.enterFailed(running, detail);
    }
    running.state = 'auto-restart';
    const delay = unit.restartSecMs * (this.options.restartSecScale ?? 1);
    this.emit({ unit: unit.name, kind: 'restart', detail: `${detail}; in ${delay} ms` });
    running.restartTimer = setTimeout(() => {
      if (running.generation === generation && !this.closed)
        void this.track(this.startJob(running, generation + 1));
    }, delay);
  }

  private enterFailed(running: RunningUnit, detail: string): void {
    running.state = 'failed';
    this.emit({ unit: running.unit.name, kind: 'failed', detail });
    if (this.closed) return;
    for (const other of running.unit.onFailure) {
      this.emit({ unit: running.unit.name, kind: 'on-failure', detail: other });
      void this.start(other);
    }
  }

  /** Runs a control command (ExecStartPre=/ExecStartPost=, a oneshot's ExecStart=) to its end. */
  private async runToEnd(running: RunningUnit, command: ExecCommand): Promise<number> {
    const systemctl = this.systemctl(command.argv);
    if (systemctl) return systemctl();
    const child = this.spawnCommand(running.unit, command, {});
    running.control = child;
    const code = await new Promise<number>((resolve) => {
      child.once('error', () => resolve(203)); // systemd's EXIT_EXEC
      child.once('exit', (exitCode, signal) => resolve(signal ? 128 : (exitCode ?? 1)));
    });
    if (running.control === child) running.control = undefined;
    return code;
  }

  /** `systemctl reset-failed|start [--no-block] UNIT` → this harness. */
  private systemctl(argv: string[]): (() => Promise<number>) | undefined {
    if (!argv[0]!.endsWith('/systemctl') && argv[0] !== 'systemctl') return undefined;
    const words = argv.slice(1).filter((word) => !word.startsWith('--'));
    const noBlock = argv.includes('--no-block');
    const [verb, ...names] = words;
    return async () => {
      for (const name of names) {
        if (verb === 'reset-failed') this.resetFailed(name);
        else if (verb === 'start') {
          const job = this.start(name);
          if (!noBlock) await job;
        } else throw new Error(`harness: systemctl ${verb} is not implemented`);
      }
      return 0;
    };
  }

  private spawnCommand(unit: ServiceUnit, command: ExecCommand, extra: Record<string, string>): ChildProcess {
    const [file, ...args] = command.argv;
    const child = spawn(file!, args, {
      cwd: unit.workingDirectory,
      env: { ...process.env, ...this.options.environment, ...unit.environment, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
      // its own process group: stop() signals the group, as systemd signals the unit's cgroup
      detached: true,
    });
    const label = `[${unit.name}:${command.argv.slice(0, 3).join(' ').slice(-60)}] `;
    const onData = (chunk: Buffer) => this.output.push(label + chunk.toString());
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (error) => this.output.push(`${label}spawn failed: ${error.message}\n`));
    return child;
  }

  private async terminate(child: ChildProcess | undefined, timeoutStopMs: number): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    };
    signalGroup('SIGTERM');
    const timedOut = await Promise.race([gone.then(() => false), sleep(timeoutStopMs, true)]);
    if (timedOut) {
      signalGroup('SIGKILL');
      await gone;
    }
  }
}
