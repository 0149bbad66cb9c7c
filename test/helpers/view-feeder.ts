import type { SessionController, SessionView, UiInput } from '../../src/kiosk/view.js';

/**
 * A stand-in for the citizen sessions in tests of the UI alone: the test pushes views and reads
 * the inputs the page sent. The real controller (src/kiosk) is driven in the e2e tests.
 */
export class ViewFeeder implements SessionController {
  readonly inputs: UiInput[] = [];
  private view: SessionView = { seq: 1, screen: 'attract', flow: null };
  private readonly listeners = new Set<(view: SessionView) => void>();
  private readonly inputWaiters = new Set<() => void>();

  current(): SessionView {
    return this.view;
  }

  subscribe(listener: (view: SessionView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  handle(input: UiInput): void {
    this.inputs.push(input);
    for (const waiter of this.inputWaiters) waiter();
  }

  /** Pushes a new view (seq is assigned here). */
  push(view: Omit<SessionView, 'seq'>): SessionView {
    this.view = { ...view, seq: this.view.seq + 1 };
    for (const listener of this.listeners) listener(this.view);
    return this.view;
  }

  /** Resolves with the first input (from now or already received after `from`) matching `type`. */
  async nextInput<T extends UiInput['type']>(
    type: T,
    from = 0,
    timeoutMs = 5000,
  ): Promise<Extract<UiInput, { type: T }>> {
    const find = () => this.inputs.slice(from).find((input) => input.type === type);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.inputWaiters.delete(check);
        reject(
          new Error(`no "${type}" input within ${timeoutMs} ms (got ${this.inputs.map((i) => i.type)})`),
        );
      }, timeoutMs);
      const check = () => {
        const found = find();
        if (!found) return;
        clearTimeout(timer);
        this.inputWaiters.delete(check);
        resolve(found as Extract<UiInput, { type: T }>);
      };
      this.inputWaiters.add(check);
      check();
    });
  }
}
