// A tiny typed event emitter, so the package needs no Node 'events' polyfill in browsers or
// React Native.

/** Maps each event name to the argument list of its listeners. */
export type EventMap = Record<string, unknown[]>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

/** Subscribes with on(), unsubscribes with the function on() returns or with off(). */
export class Emitter<E extends EventMap> {
  private readonly listeners_ = new Map<keyof E, Set<Listener>>();

  /** Adds a listener and returns a function that removes it (handy in React effects). */
  on<K extends keyof E>(event: K, listener: (...args: E[K]) => void): () => void {
    let set = this.listeners_.get(event);
    if (!set) {
      set = new Set();
      this.listeners_.set(event, set);
    }
    set.add(listener as unknown as Listener);
    return () => this.off(event, listener);
  }

  /** Removes a listener added with on(). */
  off<K extends keyof E>(event: K, listener: (...args: E[K]) => void): void {
    this.listeners_.get(event)?.delete(listener as unknown as Listener);
  }

  /** Calls every listener; one that throws does not stop the others (it is reported async). */
  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.listeners_.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as unknown as (...a: E[K]) => void)(...args);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
