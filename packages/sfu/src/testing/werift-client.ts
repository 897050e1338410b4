/**
 * A signalling + werift client for component tests and benchmarks: joins over the real WebSocket
 * protocol, publishes synthetic Opus/VP8 RTP, answers every `subscribe` with a recvonly peer
 * connection and records what arrives. Loopback only. Not part of the package build.
 */
import { EventEmitter } from 'node:events';
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'werift';
import type { RTCRtpTransceiver } from 'werift';
import WebSocket from 'ws';
import { parseServerMessage } from '@trackroom/protocol';
import { connected, loopbackIce, gathered, loopbackOnly } from './werift-util.js';
import type { ClientMessage, MediaKind, ServerMessage } from '@trackroom/protocol';

export interface ReceivedRtp {
  payloadType: number;
  ssrc: number;
  sequenceNumber: number;
  payload: Buffer;
}

export interface WeriftClientOptions {
  /** Payload types this client uses (publishing and receiving). Chromium: 111 / 96; werift: 96 / 97. */
  opusPayloadType?: number;
  vp8PayloadType?: number;
  /** Answer `subscribe` messages automatically. Default true. */
  autoSubscribe?: boolean;
  defaultTimeoutMs?: number;
}

type Msg<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

export class WeriftClient {
  readonly ws: WebSocket;
  readonly messages: ServerMessage[] = [];
  /** RTP received per publisher peer id and kind: `${peerId}/${kind}`. */
  readonly received = new Map<string, ReceivedRtp[]>();
  readonly subscriptionPcs = new Map<string, RTCPeerConnection>();
  pliCount = 0;
  readonly subscribeErrors: unknown[] = [];
  readonly #pending = new Set<Promise<void>>();
  closeCode: number | undefined;
  readonly #events = new EventEmitter();
  readonly #opts: Required<WeriftClientOptions>;
  #publishPc: RTCPeerConnection | undefined;
  #audio: RTCRtpTransceiver | undefined;
  #video: RTCRtpTransceiver | undefined;
  #seq = { audio: 0, video: 0 };
  #timers = new Set<NodeJS.Timeout>();
  readonly #closed: Promise<number>;

  private constructor(ws: WebSocket, opts: WeriftClientOptions) {
    this.ws = ws;
    this.#opts = {
      opusPayloadType: opts.opusPayloadType ?? 111,
      vp8PayloadType: opts.vp8PayloadType ?? 96,
      autoSubscribe: opts.autoSubscribe ?? true,
      defaultTimeoutMs: opts.defaultTimeoutMs ?? 15_000,
    };
    this.#events.setMaxListeners(100);
    ws.on('message', (data: Buffer) => {
      const msg = parseServerMessage(data.toString('utf8'));
      this.messages.push(msg);
      this.#events.emit('message', msg);
      if (msg.type === 'subscribe' && this.#opts.autoSubscribe) {
        const p = this.subscribe(msg).catch((err: unknown) => {
          this.subscribeErrors.push(err);
        });
        this.#pending.add(p);
        void p.finally(() => this.#pending.delete(p));
      }
      if (msg.type === 'unsubscribe') {
        const pc = this.subscriptionPcs.get(msg.subscriptionId);
        this.subscriptionPcs.delete(msg.subscriptionId);
        void pc?.close();
      }
    });
    this.#closed = new Promise((resolve) => {
      ws.on('close', (code) => {
        this.closeCode = code;
        this.#events.emit('close', code);
        resolve(code);
      });
    });
  }

  /** Opens the socket (resolves once open; a refused token shows up as `error` + close). */
  static async connect(url: string, opts: WeriftClientOptions = {}): Promise<WeriftClient> {
    const ws = new WebSocket(url);
    const client = new WeriftClient(ws, opts);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  send(msg: ClientMessage | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(msg));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Resolves with the first message (already received or future) of `type` matching `pred`. */
  waitFor<T extends ServerMessage['type']>(
    type: T,
    pred: (m: Msg<T>) => boolean = () => true,
    timeoutMs = this.#opts.defaultTimeoutMs,
  ): Promise<Msg<T>> {
    const match = (m: ServerMessage): m is Msg<T> => m.type === type && pred(m as Msg<T>);
    const found = this.messages.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#events.off('message', on);
        reject(new Error(`no ${type} message within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (m: ServerMessage): void => {
        if (!match(m)) return;
        clearTimeout(timer);
        this.#events.off('message', on);
        resolve(m);
      };
      this.#events.on('message', on);
    });
  }

  /** Resolves with the close code. */
  waitClosed(timeoutMs = this.#opts.defaultTimeoutMs): Promise<number> {
    return Promise.race([
      this.#closed,
      new Promise<number>((_, reject) => {
        const t = setTimeout(() => reject(new Error(`socket not closed within ${timeoutMs} ms`)), timeoutMs);
        t.unref();
      }),
    ]);
  }

  async join(opts: { name?: string; audio?: boolean; video?: boolean } = {}): Promise<Msg<'joined'>> {
    const msg: ClientMessage = { type: 'join', audio: opts.audio ?? true, video: opts.video ?? false };
    if (opts.name !== undefined) msg.name = opts.name;
    this.send(msg);
    return this.waitFor('joined');
  }

  #newPc(): RTCPeerConnection {
    return new RTCPeerConnection({
      codecs: {
        audio: [
          new RTCRtpCodecParameters({
            mimeType: 'audio/opus',
            clockRate: 48000,
            channels: 2,
            payloadType: this.#opts.opusPayloadType,
          }),
        ],
        video: [
          new RTCRtpCodecParameters({
            mimeType: 'video/VP8',
            clockRate: 90000,
            payloadType: this.#opts.vp8PayloadType,
            rtcpFeedback: [{ type: 'nack', parameter: 'pli' }],
          }),
        ],
      },
      ...loopbackIce(),
    });
  }

  /** Builds the publish offer (without sending it). */
  async createPublishOffer(kinds: MediaKind[] = ['audio']): Promise<string> {
    const pc = this.#newPc();
    this.#publishPc = pc;
    if (kinds.includes('audio')) this.#audio = pc.addTransceiver('audio', { direction: 'sendonly' });
    if (kinds.includes('video')) {
      this.#video = pc.addTransceiver('video', { direction: 'sendonly' });
      this.#video.sender.onPictureLossIndication.subscribe(() => {
        this.pliCount++;
        this.#events.emit('pli');
      });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    return loopbackOnly(pc.localDescription!.sdp);
  }

  /** Publishes and resolves once the publish connection is up. */
  async publish(kinds: MediaKind[] = ['audio']): Promise<void> {
    const sdp = await this.createPublishOffer(kinds);
    this.send({ type: 'publishOffer', sdp });
    const answer = await this.waitFor('publishAnswer');
    await this.#publishPc!.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    await connected(this.#publishPc!, this.#opts.defaultTimeoutMs);
  }

  /** Sends one RTP packet whose payload is `[0xab, tag, seqHi, seqLo, ...filler]`. */
  async sendRtp(kind: MediaKind, tag: number, size = 60): Promise<void> {
    const tr = kind === 'audio' ? this.#audio : this.#video;
    if (!tr) throw new Error(`not publishing ${kind}`);
    const seq = this.#seq[kind]++ & 0xffff;
    const payload = Buffer.alloc(size, tag);
    payload[0] = 0xab;
    payload[1] = tag;
    payload.writeUInt16BE(seq, 2);
    const pt = kind === 'audio' ? this.#opts.opusPayloadType : this.#opts.vp8PayloadType;
    const header = new RtpHeader({
      payloadType: pt,
      sequenceNumber: seq,
      timestamp: (seq * (kind === 'audio' ? 960 : 3000)) >>> 0,
      ssrc: kind === 'audio' ? 0x1111 * (tag + 1) : 0x2222 * (tag + 1),
      marker: kind === 'video',
    });
    await tr.sender.sendRtp(new RtpPacket(header, payload));
  }

  /** Sends packets every `intervalMs` until the returned function is called. */
  startSending(kind: MediaKind, tag: number, intervalMs = 10): () => void {
    const timer = setInterval(() => {
      this.sendRtp(kind, tag).catch(() => undefined); // a closing connection drops the packet
    }, intervalMs);
    this.#timers.add(timer);
    return () => {
      clearInterval(timer);
      this.#timers.delete(timer);
    };
  }

  async subscribe(msg: Msg<'subscribe'>): Promise<void> {
    const pc = this.#newPc();
    this.subscriptionPcs.set(msg.subscriptionId, pc);
    for (const kind of msg.kinds) {
      const tr = pc.addTransceiver(kind, { direction: 'recvonly' });
      tr.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe((rtp) => {
          const key = `${msg.peerId}/${kind}`;
          let list = this.received.get(key);
          if (!list) {
            list = [];
            this.received.set(key, list);
          }
          list.push({
            payloadType: rtp.header.payloadType,
            ssrc: rtp.header.ssrc,
            sequenceNumber: rtp.header.sequenceNumber,
            payload: Buffer.from(rtp.payload),
          });
          this.#events.emit('rtp', key, list.length);
        });
      });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    this.send({
      type: 'subscribeOffer',
      subscriptionId: msg.subscriptionId,
      sdp: loopbackOnly(pc.localDescription!.sdp),
    });
    const answer = await this.waitFor('subscribeAnswer', (m) => m.subscriptionId === msg.subscriptionId);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    await connected(pc, this.#opts.defaultTimeoutMs);
  }

  /**
   * Resolves once every automatic subscription so far is connected (or failed). Call it before
   * anything closes connections: werift keeps retransmitting an unfinished DTLS handshake for
   * about 30 s after close, which keeps the test process alive.
   */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  packets(peerId: string, kind: MediaKind = 'audio'): ReceivedRtp[] {
    return this.received.get(`${peerId}/${kind}`) ?? [];
  }

  /** Resolves once at least `count` packets of `kind` from `peerId` have arrived. */
  waitForPackets(
    peerId: string,
    count: number,
    kind: MediaKind = 'audio',
    timeoutMs = this.#opts.defaultTimeoutMs,
  ): Promise<ReceivedRtp[]> {
    const key = `${peerId}/${kind}`;
    if (this.packets(peerId, kind).length >= count) return Promise.resolve(this.packets(peerId, kind));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#events.off('rtp', on);
        reject(
          new Error(`only ${this.packets(peerId, kind).length}/${count} ${key} packets in ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const on = (k: string, n: number): void => {
        if (k !== key || n < count) return;
        clearTimeout(timer);
        this.#events.off('rtp', on);
        resolve(this.packets(peerId, kind));
      };
      this.#events.on('rtp', on);
    });
  }

  /** Resolves once a PLI reached this client's video sender. */
  waitForPli(timeoutMs = this.#opts.defaultTimeoutMs): Promise<void> {
    if (this.pliCount > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no PLI in ${timeoutMs} ms`)), timeoutMs);
      this.#events.once('pli', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    await this.settled();
    for (const t of this.#timers) clearInterval(t);
    this.#timers.clear();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close();
    await Promise.allSettled([
      this.#publishPc?.close(),
      ...[...this.subscriptionPcs.values()].map((pc) => pc.close()),
    ]);
  }
}
