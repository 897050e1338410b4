/**
 * A node-datachannel publisher that joins through the server's real signalling, as
 * {@link OpusPublisher} (werift) does, and sends prerecorded Opus at real pace: one packet per
 * 20 ms against the clock, every publisher of a process on one shared timer ({@link PacketClock}).
 * ICE, DTLS and SRTP run in libdatachannel's native threads, so it costs a fraction of werift's CPU:
 * the benchmark's default load generator. ICE on `bindAddress` only (default 127.0.0.1).
 *
 * Setup: the offer goes without candidates and with `a=setup:passive`; the candidates follow as
 * `candidate` messages once the answer is applied (see {@link withheldCandidates} and
 * {@link offerDtlsServer}: no failed and no 1 s setups at load).
 *
 * With `subscribe: true` it also answers the server's `subscribe` messages with a recvonly
 * node-datachannel connection each and counts the RTP that arrives; by default `subscribe` is
 * ignored (ingest only).
 */
import { NdcAudioPeer, isRtcp, offerDtlsServer, withheldCandidates } from './ndc-audio-peer.js';
import { NdcOpusSender, type NdcPlayOptions } from './ndc-opus-sender.js';
import { NdcSingleSubscriber } from './ndc-single-subscriber.js';
import type { PacketClock } from './packet-clock.js';
import { SignallingSocket, type ServerMsg } from './signalling-socket.js';
import { PUBLISH_PC_ID, type ServerMessage } from '@trackroom/protocol';

export interface NdcOpusPublisherOptions {
  /** Default 127.0.0.1. */
  bindAddress?: string;
  /** Default 111. */
  payloadType?: number;
  timeoutMs?: number;
  /**
   * Answer `subscribe` with recvonly connections and count the RTP received (default false), or
   * `'single'`: join with one renegotiated subscribing connection ({@link NdcSingleSubscriber}).
   */
  subscribe?: boolean | 'single';
  /** Default: the process's shared clock. */
  clock?: PacketClock;
}

export class NdcOpusPublisher {
  readonly #sig: SignallingSocket;
  readonly #o: NdcOpusPublisherOptions;
  readonly #bind: string;
  readonly #timeoutMs: number;
  readonly #subs = new Map<string, NdcAudioPeer>();
  readonly #up = new Set<string>();
  readonly #pending = new Set<Promise<void>>();
  #sender: NdcOpusSender | undefined;
  #left = false;
  peerId = '';
  /** RTP packets received over all subscriptions (only with `subscribe: true`). */
  received = 0;
  /** RTP packets received per subscription id (only with `subscribe: true`). */
  readonly receivedBySubscription = new Map<string, number>();
  readonly subscribeErrors: string[] = [];
  /** The one subscribing connection, with `subscribe: 'single'`. */
  readonly single: NdcSingleSubscriber | undefined;

  private constructor(sig: SignallingSocket, o: NdcOpusPublisherOptions) {
    this.#sig = sig;
    this.#o = o;
    this.#bind = o.bindAddress ?? '127.0.0.1';
    this.#timeoutMs = o.timeoutMs ?? 15_000;
    if (o.subscribe === 'single') {
      this.single = new NdcSingleSubscriber(sig, {
        bindAddress: this.#bind,
        timeoutMs: this.#timeoutMs,
        ...(o.payloadType === undefined ? {} : { payloadType: o.payloadType }),
      });
      return;
    }
    if (!o.subscribe) return;
    sig.onMessage((m) => {
      if (m.type === 'subscribe') {
        const p = this.#subscribeTo(m).catch((err: unknown) => {
          if (this.subscribeErrors.length < 20) this.subscribeErrors.push(String(err));
        });
        this.#pending.add(p);
        void p.finally(() => this.#pending.delete(p));
      } else if (m.type === 'unsubscribe') {
        this.#subs.get(m.subscriptionId)?.close();
        this.#subs.delete(m.subscriptionId);
        this.#up.delete(m.subscriptionId);
      }
    });
  }

  static async connect(wsUrl: string, o: NdcOpusPublisherOptions = {}): Promise<NdcOpusPublisher> {
    return new NdcOpusPublisher(await SignallingSocket.open(wsUrl, o.timeoutMs ?? 15_000), o);
  }

  /** Connects and joins, following a cluster's `redirect` to the hosting server (`via`: URLs opened). */
  static async connectAndJoin(
    wsUrl: string,
    o: NdcOpusPublisherOptions = {},
  ): Promise<{ pub: NdcOpusPublisher; joined: ServerMsg<'joined'>; via: string[] }> {
    const { sig, joined, via } = await SignallingSocket.openJoined(wsUrl, true, o.timeoutMs ?? 15_000);
    const pub = new NdcOpusPublisher(sig, o);
    pub.peerId = joined.self.peerId;
    return { pub, joined, via };
  }

  /** Packets accepted by libdatachannel for sending. */
  get sent(): number {
    return this.#sender?.sent ?? 0;
  }

  /** Packets libdatachannel refused (the track was not open). */
  get refused(): number {
    return this.#sender?.refused ?? 0;
  }

  /** Subscriptions whose connection is up (and not unsubscribed since). */
  get subscribed(): number {
    return this.#up.size;
  }

  get messages(): ServerMessage[] {
    return this.#sig.messages;
  }

  waitFor<T extends ServerMessage['type']>(
    type: T,
    pred: (m: ServerMsg<T>) => boolean = () => true,
  ): Promise<ServerMsg<T>> {
    return this.#sig.waitFor(type, pred);
  }

  async join(audio = true): Promise<ServerMsg<'joined'>> {
    const joined = await this.#sig.join(audio, this.single ? 'single' : undefined);
    this.peerId = joined.self.peerId;
    return joined;
  }

  /** Publishes one Opus track; resolves once the connection is up and the track open. */
  async publish(): Promise<void> {
    if (this.#sender) throw new Error('publish: already published');
    const sender = new NdcOpusSender({
      label: `load-${this.peerId || 'peer'}`,
      bindAddress: this.#bind,
      ...(this.#o.payloadType === undefined ? {} : { payloadType: this.#o.payloadType }),
      ...(this.#o.clock ? { clock: this.#o.clock } : {}),
    });
    this.#sender = sender;
    const { sdp, candidates } = withheldCandidates(await sender.offer());
    this.#sig.send({ type: 'publishOffer', sdp: offerDtlsServer(sdp) });
    const answer = await this.#sig.waitFor('publishAnswer');
    sender.accept(answer.sdp);
    this.#trickle(PUBLISH_PC_ID, candidates);
    await sender.connected(this.#timeoutMs);
  }

  /** Answers one `subscribe`: recvonly Opus, `subscribeOffer`, `subscribeAnswer`, connected. */
  async #subscribeTo(m: ServerMsg<'subscribe'>): Promise<void> {
    if (m.kinds.length !== 1 || m.kinds[0] !== 'audio')
      throw new Error(`subscription ${m.subscriptionId}: only audio is supported, not ${m.kinds.join('+')}`);
    const peer = new NdcAudioPeer({
      label: `load-sub-${m.subscriptionId}`,
      bindAddress: this.#bind,
      direction: 'recvonly',
      payloadType: this.#o.payloadType ?? 111,
    });
    this.#subs.get(m.subscriptionId)?.close();
    this.#subs.set(m.subscriptionId, peer);
    this.receivedBySubscription.set(m.subscriptionId, 0);
    const { sdp, candidates } = withheldCandidates(await peer.offer());
    peer.track?.onMessage((msg) => {
      if (isRtcp(msg)) return;
      this.received++;
      this.receivedBySubscription.set(
        m.subscriptionId,
        (this.receivedBySubscription.get(m.subscriptionId) ?? 0) + 1,
      );
    });
    this.#sig.send({ type: 'subscribeOffer', subscriptionId: m.subscriptionId, sdp: offerDtlsServer(sdp) });
    const answer = await this.#sig.waitFor('subscribeAnswer', (a) => a.subscriptionId === m.subscriptionId);
    peer.accept(answer.sdp);
    this.#trickle(m.subscriptionId, candidates);
    await peer.connected(this.#timeoutMs);
    if (this.#subs.get(m.subscriptionId) === peer) this.#up.add(m.subscriptionId);
  }

  /** Our candidates, once the answer is applied (see {@link withheldCandidates}). */
  #trickle(pcId: string, candidates: string[]): void {
    for (const candidate of candidates) this.#sig.send({ type: 'candidate', pcId, candidate, sdpMid: '0' });
  }

  /** Resolves once every subscription answered so far is up or has failed (`subscribeErrors`). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /**
   * Sends `packets` (20 ms Opus frames) in a loop at real pace; `drop(i)` skips frame i (its sequence
   * number is used up: loss). See {@link NdcOpusSender.play}.
   */
  play(packets: Uint8Array[], drop?: (i: number) => boolean, o?: NdcPlayOptions): void {
    if (!this.#sender) throw new Error('play: publish first');
    this.#sender.play(packets, drop, o);
  }

  /** Mutes (false: stops sending and tells the server) or unmutes; the RTP clock runs on. */
  setAudioEnabled(enabled: boolean): void {
    this.#sender?.setSending(enabled);
    this.#sig.send({ type: 'mediaState', kind: 'audio', enabled });
  }

  stopPlaying(): void {
    this.#sender?.stopPlaying();
  }

  /** Says `leave`, closes the socket and every connection. Idempotent. */
  leave(): Promise<void> {
    if (this.#left) return Promise.resolve();
    this.#left = true;
    this.stopPlaying();
    this.#sig.leave();
    this.#sender?.close();
    for (const peer of this.#subs.values()) peer.close();
    this.#subs.clear();
    this.single?.close();
    this.#up.clear();
    return Promise.resolve();
  }
}
