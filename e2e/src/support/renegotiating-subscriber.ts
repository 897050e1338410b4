/**
 * What the single-mode subscribing clients share, whichever WebRTC stack they use (werift
 * {@link SingleSubscriber}, node-datachannel {@link NdcSingleSubscriber}): one negotiation at a time,
 * always for the latest `subscriberUpdate`, a failed one recorded and skipped; and the count of the
 * RTP that arrives per publisher through the last answer's mid → publisher map.
 */
import type { ServerMsg, SignallingSocket } from './signalling-socket.js';

export abstract class RenegotiatingSubscriber {
  /** RTP packets received in all. */
  received = 0;
  /** RTP packets received per publisher peer id. */
  readonly receivedByPeer = new Map<string, number>();
  /** When the first packet of each publisher arrived (performance.now()). */
  readonly firstPacketAt = new Map<string, number>();
  /** Negotiations completed (answers applied). */
  negotiations = 0;
  readonly errors: string[] = [];
  protected readonly sig: SignallingSocket;
  /** The update version last offered (0 on a new connection). */
  protected offered = 0;
  protected closed = false;
  /** mid → publisher, per the last answer applied. */
  protected readonly byMid = new Map<string, string | null>();
  #latest: ServerMsg<'subscriberUpdate'> | undefined;
  #busy = false;
  readonly #idleWaiters = new Set<() => void>();

  constructor(sig: SignallingSocket) {
    this.sig = sig;
    sig.onMessage((m) => {
      if (m.type !== 'subscriberUpdate' || this.closed) return;
      this.#latest = m;
      this.#kick();
    });
  }

  /** Resolves once no negotiation runs and the last update was answered. */
  settled(): Promise<void> {
    if (!this.#busy && (!this.#latest || this.#latest.version <= this.offered)) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.add(resolve));
  }

  /** Offers `plan`'s slots and applies the answer (sets `offered` once the offer is sent). */
  protected abstract negotiate(plan: ServerMsg<'subscriberUpdate'>): Promise<void>;

  /** One RTP packet arrived on the m-line `mid`. */
  protected count(mid: string | null | undefined): void {
    if (mid === undefined || mid === null) return;
    const peerId = this.byMid.get(mid);
    if (!peerId) return;
    this.received++;
    this.receivedByPeer.set(peerId, (this.receivedByPeer.get(peerId) ?? 0) + 1);
    if (!this.firstPacketAt.has(peerId)) this.firstPacketAt.set(peerId, performance.now());
  }

  #kick(): void {
    if (this.#busy) return;
    this.#busy = true;
    void this.#run().finally(() => {
      this.#busy = false;
      if (this.#latest && this.#latest.version > this.offered && !this.closed) this.#kick();
      else for (const w of [...this.#idleWaiters]) w();
    });
  }

  async #run(): Promise<void> {
    while (!this.closed && this.#latest && this.#latest.version > this.offered) {
      const plan = this.#latest;
      try {
        await this.negotiate(plan);
      } catch (err) {
        if (this.errors.length < 20) this.errors.push(String(err));
        this.offered = plan.version; // wait for the next update instead of looping on a failure
      }
    }
  }
}
