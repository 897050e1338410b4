/**
 * One typed event mechanism for every manager. Event names are the keys of the map; a throwing
 * listener is reported through `onListenerError` and never breaks the emitter or other listeners.
 */
export type EventMap = { [K: string]: unknown };
type Listener<T> = (payload: T) => void;

export class TypedEmitter<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Set<Listener<never>>>();
  onListenerError: (err: unknown, event: keyof E) => void = (err, event) => {
    // Deliberately not rethrown: a faulty listener must not corrupt the emitter's state.
    console.error(`listener for ${String(event)} threw`, err);
  };

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (p) => {
      off();
      listener(p);
    });
    return off;
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  emit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      try {
        (l as Listener<E[K]>)(payload);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }
}
