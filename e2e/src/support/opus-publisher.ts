/**
 * A werift publisher that joins through the server's real signalling and sends prerecorded Opus at
 * real pace (one packet per 20 ms, paced against the clock so it does not drift). Used by end-to-end
 * tests and by the benchmark's load generator. Loopback only.
 *
 * With `subscribe: true` it also answers the server's `subscribe` messages (a recvonly peer
 * connection per remote publisher, as a browser would) and counts the RTP that arrives; by default
 * `subscribe` is ignored (ingest only).
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  RTP_EXTENSION_URI,
  RtpHeader,
  RtpPacket,
  type RTCRtpTransceiver,
} from 'werift';
import type WebSocket from 'ws';
import { connected, loopbackIce, gathered, loopbackOnly } from '@trackroom/sfu/testing';
import type { ServerMessage, SubscriberMode } from '@trackroom/protocol';
import { SingleSubscriber } from './single-subscriber.js';
import { SignallingSocket, type ServerMsg as Msg } from './signalling-socket.js';

export interface OpusPublisherOptions {
  /** Payload type to offer for Opus (werift's own default is 96; Chromium uses 111). */
  payloadType?: number;
  timeoutMs?: number;
  /**
   * Answer every `subscribe` with a recvonly peer connection and count the RTP received per
   * subscription (`received`, `receivedBySubscription`). Default false: `subscribe` is ignored.
   * `'single'`: join with one subscribing connection instead (`single`, a {@link SingleSubscriber}).
   */
  subscribe?: boolean | 'single';
  /**
   * Offer the RFC 6464 audio-level header extension under this id (one-byte form), as Chromium
   * does; `play`'s `audioLevel` then puts a level in every packet. Default: not offered.
   */
  audioLevelExtId?: number;
}

export class OpusPublisher {
  readonly #sig: SignallingSocket;
  peerId = '';
  sent = 0;
  /** RTP packets received over all subscriptions (only with `subscribe: true`). */
  received = 0;
  /** RTP packets received per subscription id (only with `subscribe: true`). */
  readonly receivedBySubscription = new Map<string, number>();
  /** Subscriptions whose peer connection is up (and not unsubscribed since). */
  get subscribed(): number {
    return this.#up.size;
  }
  readonly #up = new Set<string>();
  readonly subscribeErrors: string[] = [];
  /** The one subscribing connection, with `subscribe: 'single'`. */
  readonly single: SingleSubscriber | undefined;
  readonly #mode: SubscriberMode | undefined;
  readonly #subs = new Map<string, RTCPeerConnection>();
  readonly #pending = new Set<Promise<void>>();
  #pc: RTCPeerConnection | undefined;
  #tr: RTCRtpTransceiver | undefined;
  #timer: NodeJS.Timeout | undefined;
  #seq = Math.floor(Math.random() * 65536);
  #ts = Math.floor(Math.random() * 2 ** 32);
  #ssrc = (Math.random() * 2 ** 32) >>> 0;
  #sending = false;
  readonly #pt: number;
  readonly #timeoutMs: number;
  readonly #audioLevelExtId: number | undefined;

  private constructor(sig: SignallingSocket, o: OpusPublisherOptions) {
    this.#sig = sig;
    this.#pt = o.payloadType ?? 111;
    this.#timeoutMs = o.timeoutMs ?? 15_000;
    this.#audioLevelExtId = o.audioLevelExtId;
    if (o.subscribe === 'single') {
      this.#mode = 'single';
      this.single = new SingleSubscriber(sig, { payloadType: this.#pt, timeoutMs: this.#timeoutMs });
      return;
    }
    if (!(o.subscribe ?? false)) return;
    sig.onMessage((m) => {
      if (m.type === 'subscribe') {
        const p = this.#subscribeTo(m).catch((err: unknown) => {
          if (this.subscribeErrors.length < 20) this.subscribeErrors.push(String(err));
        });
        this.#pending.add(p);
        void p.finally(() => this.#pending.delete(p));
      } else if (m.type === 'unsubscribe') {
        const pc = this.#subs.get(m.subscriptionId);
        this.#subs.delete(m.subscriptionId);
        this.#up.delete(m.subscriptionId);
        void pc?.close();
      }
    });
  }

  static async connect(wsUrl: string, o: OpusPublisherOptions = {}): Promise<OpusPublisher> {
    return new OpusPublisher(await SignallingSocket.open(wsUrl, o.timeoutMs ?? 15_000), o);
  }

  /** Connects and joins, following a cluster's `redirect` to the hosting server (`via`: URLs opened). */
  static async connectAndJoin(
    wsUrl: string,
    o: OpusPublisherOptions = {},
  ): Promise<{ pub: OpusPublisher; joined: Msg<'joined'>; via: string[] }> {
    const { sig, joined, via } = await SignallingSocket.openJoined(
      wsUrl,
      true,
      o.timeoutMs ?? 15_000,
      o.subscribe === 'single' ? 'single' : undefined,
    );
    const pub = new OpusPublisher(sig, o);
    pub.peerId = joined.self.peerId;
    return { pub, joined, via };
  }

  get ws(): WebSocket {
    return this.#sig.ws;
  }

  /** Every server message received so far. */
  get messages(): ServerMessage[] {
    return this.#sig.messages;
  }

  waitFor<T extends ServerMessage['type']>(
    type: T,
    pred: (m: Msg<T>) => boolean = () => true,
  ): Promise<Msg<T>> {
    return this.#sig.waitFor(type, pred);
  }

  async join(audio = true): Promise<Msg<'joined'>> {
    const joined = await this.#sig.join(audio, this.#mode);
    this.peerId = joined.self.peerId;
    return joined;
  }

  #newPc(withLevels = false): RTCPeerConnection {
    const levelId = withLevels ? this.#audioLevelExtId : undefined;
    return new RTCPeerConnection({
      ...(levelId !== undefined && {
        headerExtensions: {
          audio: [
            new RTCRtpHeaderExtensionParameters({ id: levelId, uri: RTP_EXTENSION_URI.audioLevelIndication }),
          ],
        },
      }),
      codecs: {
        audio: [
          new RTCRtpCodecParameters({
            mimeType: 'audio/opus',
            clockRate: 48000,
            channels: 2,
            payloadType: this.#pt,
          }),
        ],
        video: [],
      },
      ...loopbackIce(),
    });
  }

  /** Answers one `subscribe`: recvonly audio, `subscribeOffer`, `subscribeAnswer`, connected. */
  async #subscribeTo(m: Msg<'subscribe'>): Promise<void> {
    const pc = this.#newPc();
    this.#subs.set(m.subscriptionId, pc);
    this.receivedBySubscription.set(m.subscriptionId, 0);
    for (const kind of m.kinds) {
      const tr = pc.addTransceiver(kind, { direction: 'recvonly' });
      if (kind !== 'audio') continue;
      tr.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe(() => {
          this.received++;
          this.receivedBySubscription.set(
            m.subscriptionId,
            (this.receivedBySubscription.get(m.subscriptionId) ?? 0) + 1,
          );
        });
      });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    this.#sig.send({
      type: 'subscribeOffer',
      subscriptionId: m.subscriptionId,
      sdp: loopbackOnly(pc.localDescription!.sdp),
    });
    const answer = await this.waitFor('subscribeAnswer', (a) => a.subscriptionId === m.subscriptionId);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    await connected(pc, this.#timeoutMs, `subscription ${m.subscriptionId}`);
    if (this.#subs.get(m.subscriptionId) === pc) this.#up.add(m.subscriptionId);
  }

  /** Resolves once every subscription answered so far is up or has failed (`subscribeErrors`). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** Publishes one Opus track; resolves once the peer connection is up. */
  async publish(): Promise<void> {
    const pc = this.#newPc(true);
    this.#pc = pc;
    this.#tr = pc.addTransceiver('audio', { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const sdp = loopbackOnly(pc.localDescription!.sdp);
    this.#sig.send({ type: 'publishOffer', sdp });
    const answer = await this.waitFor('publishAnswer');
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    await connected(pc, this.#timeoutMs, 'publish connection', false);
  }

  /**
   * Sends `packets` (20 ms Opus frames) in a loop at real pace. While `setSending(false)`, the RTP
   * clock keeps running but nothing is sent, as a muted or DTX sender would do. `drop(i)` may skip
   * packet number i to simulate loss (its sequence number is used up). `o.clockSpeed` is the sender's
   * audio clock against real time (0.998: packet i is due at i * 20 / 0.998 ms); `o.onSent` hears of
   * every packet sent, with the wall-clock ms it was due and the ms it really went out. With the
   * audio-level extension negotiated, `o.audioLevel(i)` gives packet i's RFC 6464 byte (bit 7 voice
   * activity, bits 0-6 level in -dBov) and `o.payload(i)` may replace its payload.
   */
  play(
    packets: Uint8Array[],
    drop: (i: number) => boolean = () => false,
    o: {
      clockSpeed?: number;
      onSent?: (i: number, dueMs: number, sentMs: number) => void;
      audioLevel?: (i: number) => number;
      payload?: (i: number) => Uint8Array | undefined;
    } = {},
  ): void {
    const levelId = this.#audioLevelExtId;
    this.#sending = true;
    const speed = o.clockSpeed ?? 1;
    const start = performance.now();
    const startWall = performance.timeOrigin + start;
    let i = 0;
    const step = () => {
      const due = Math.floor(((performance.now() - start) * speed) / 20);
      while (i <= due) {
        const payload = o.payload?.(i) ?? (packets[i % packets.length] as Uint8Array);
        const seq = this.#seq;
        const ts = this.#ts;
        this.#seq = (this.#seq + 1) & 0xffff;
        this.#ts = (this.#ts + 960) >>> 0;
        if (this.#sending && !drop(i) && this.#tr) {
          const header = new RtpHeader({
            payloadType: this.#pt,
            sequenceNumber: seq,
            timestamp: ts,
            ssrc: this.#ssrc,
            marker: false,
            ...(levelId !== undefined &&
              o.audioLevel && {
                extension: true,
                extensions: [{ id: levelId, payload: Buffer.of(o.audioLevel(i) & 0xff) }],
              }),
          });
          o.onSent?.(i, startWall + (i * 20) / speed, performance.timeOrigin + performance.now());
          this.#tr.sender.sendRtp(new RtpPacket(header, Buffer.from(payload))).catch(() => undefined);
          this.sent++;
        }
        i++;
      }
    };
    this.#timer = setInterval(step, 5);
  }

  /** Mutes (true: stops sending and tells the server) or unmutes. */
  setAudioEnabled(enabled: boolean): void {
    this.#sending = enabled;
    this.#sig.send({ type: 'mediaState', kind: 'audio', enabled });
  }

  stopPlaying(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async leave(): Promise<void> {
    this.stopPlaying();
    this.#sig.leave();
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    await Promise.allSettled([this.#pc?.close(), ...subs.map((pc) => pc.close()), this.single?.close()]);
  }
}
