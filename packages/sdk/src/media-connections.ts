/**
 * The client's peer connections, per the signalling protocol: one send-only publish connection and
 * one receive-only subscribing connection renegotiated over its slots ({@link SubscriberConnection};
 * against a server that predates it, one receive-only connection per subscription). The client always offers; it gathers its candidates
 * completely before sending the offer (no trickle), bounded by `gatherTimeoutMs`.
 */
import { TypedEmitter } from '@trackroom/protocol';
import type { MediaKind, SubscriberSlot, SubscriberTrack } from '@trackroom/protocol';

export type PeerConnectionFactory = (config: RTCConfiguration) => RTCPeerConnection;

export interface MediaConnectionOptions {
  createPeerConnection?: PeerConnectionFactory;
  /** ICE servers (the TURN relays the server sent in `joined`). Default none. */
  iceServers?: RTCIceServer[];
  /** Longest wait for ICE gathering before the offer goes out with what was gathered. Default 2000 ms. */
  gatherTimeoutMs?: number;
}

export type MediaConnectionEvents = {
  /** The connection state changed (RTCPeerConnection's `connectionState`). */
  state: RTCPeerConnectionState;
};

function newPc(opts: MediaConnectionOptions): RTCPeerConnection {
  const config: RTCConfiguration = {
    iceServers: opts.iceServers ?? [],
    bundlePolicy: 'max-bundle',
    rtcpMuxPolicy: 'require',
  };
  return opts.createPeerConnection ? opts.createPeerConnection(config) : new RTCPeerConnection(config);
}

/** Resolves once ICE gathering is complete or `timeoutMs` passed, whichever is first. */
export function waitForGathering(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      pc.removeEventListener('icecandidate', onCandidate);
      resolve();
    };
    const check = (): void => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const onCandidate = (ev: RTCPeerConnectionIceEvent): void => {
      if (ev.candidate === null) done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
    pc.addEventListener('icecandidate', onCandidate);
  });
}

async function offerWithCandidates(pc: RTCPeerConnection, gatherTimeoutMs: number): Promise<string> {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await waitForGathering(pc, gatherTimeoutMs);
  const sdp = pc.localDescription?.sdp;
  if (!sdp) throw new Error('no local description after setLocalDescription');
  return sdp;
}

abstract class MediaConnection extends TypedEmitter<MediaConnectionEvents> {
  protected readonly pc: RTCPeerConnection;
  protected readonly gatherTimeoutMs: number;
  #closed = false;

  constructor(opts: MediaConnectionOptions) {
    super();
    this.pc = newPc(opts);
    this.gatherTimeoutMs = opts.gatherTimeoutMs ?? 2000;
    this.pc.addEventListener('connectionstatechange', () => {
      if (!this.#closed) this.emit('state', this.pc.connectionState);
    });
  }

  get connectionState(): RTCPeerConnectionState {
    return this.pc.connectionState;
  }
  get closed(): boolean {
    return this.#closed;
  }

  async applyAnswer(sdp: string): Promise<void> {
    if (this.#closed) return;
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /** Closes the peer connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.pc.close();
    this.removeAllListeners();
  }
}

/** The send-only publish connection: at most one audio and one video transceiver, fixed at creation. */
export class PublishConnection extends MediaConnection {
  readonly #senders = new Map<MediaKind, RTCRtpSender>();

  /**
   * @param kinds the transceivers to create (audio first); each may start without a track and get
   *   one later through {@link replaceTrack}, since the protocol allows one publish per socket.
   */
  constructor(
    kinds: readonly MediaKind[],
    tracks: Partial<Record<MediaKind, MediaStreamTrack | undefined>>,
    opts: MediaConnectionOptions = {},
  ) {
    super(opts);
    const stream = new MediaStream();
    for (const kind of kinds) {
      const track = tracks[kind];
      const t = this.pc.addTransceiver(track ?? kind, { direction: 'sendonly', streams: [stream] });
      this.#senders.set(kind, t.sender);
    }
  }

  get kinds(): MediaKind[] {
    return [...this.#senders.keys()];
  }

  createOffer(): Promise<string> {
    return offerWithCandidates(this.pc, this.gatherTimeoutMs);
  }

  /** Swaps the sent track without renegotiating; `null` sends nothing. No-op for a kind not published. */
  async replaceTrack(kind: MediaKind, track: MediaStreamTrack | null): Promise<void> {
    const sender = this.#senders.get(kind);
    if (!sender || this.closed || sender.track === track) return;
    await sender.replaceTrack(track);
  }
}

/** A receive-only connection for one remote publisher. */
export class SubscribeConnection extends MediaConnection {
  readonly subscriptionId: string;
  readonly peerId: string;
  readonly kinds: readonly MediaKind[];
  readonly #tracks = new Map<MediaKind, MediaStreamTrack>();

  constructor(
    subscriptionId: string,
    peerId: string,
    kinds: readonly MediaKind[],
    opts: MediaConnectionOptions = {},
  ) {
    super(opts);
    this.subscriptionId = subscriptionId;
    this.peerId = peerId;
    // Audio first, then video, as the protocol asks.
    this.kinds = (['audio', 'video'] as const).filter((k) => kinds.includes(k));
    for (const kind of this.kinds) {
      const t = this.pc.addTransceiver(kind, { direction: 'recvonly' });
      // The receiver's track exists before negotiation; it starts producing when RTP arrives.
      this.#tracks.set(kind, t.receiver.track);
    }
  }

  /** The received tracks by kind (available right away; live once media flows). */
  track(kind: MediaKind): MediaStreamTrack | undefined {
    return this.#tracks.get(kind);
  }

  createOffer(): Promise<string> {
    return offerWithCandidates(this.pc, this.gatherTimeoutMs);
  }
}

/** What one applied answer of the subscribing connection carries: each remote publisher's tracks. */
export interface SubscriberMapping {
  /** peerId → kind → the receiving track. */
  byPeer: Map<string, Map<MediaKind, MediaStreamTrack>>;
}

/**
 * The subscriber offer without its RTP header extensions (`a=extmap`): the server sends none on
 * forwarded tracks, so its answer would drop them anyway, and Chromium lists about ten per m-line in
 * a first offer, which alone would take a meeting of 50 past the 64 KiB message limit. An answer to
 * a subset of the local offer is still a valid answer to it.
 */
export function compactSubscriberOffer(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=extmap:') && l !== 'a=extmap-allow-mixed')
    .join('\r\n');
}

/**
 * Offers only the codec the server forwards (Opus, VP8) on a receiving transceiver: the offer then
 * holds one codec per m-line instead of a dozen, which keeps a meeting's offer of one m-line per
 * remote track well under the signalling message limit. Left as is where the browser lacks the API.
 */
function onlyServerCodec(t: RTCRtpTransceiver, kind: MediaKind): void {
  const caps = typeof RTCRtpReceiver !== 'undefined' ? RTCRtpReceiver.getCapabilities?.(kind) : null;
  if (!caps || typeof t.setCodecPreferences !== 'function') return;
  const want = kind === 'audio' ? 'audio/opus' : 'video/vp8';
  const codecs = caps.codecs.filter((c) => c.mimeType.toLowerCase() === want);
  if (codecs.length > 0) t.setCodecPreferences(codecs);
}

/**
 * The one receive-only connection of single mode: one transceiver per server slot, in slot order
 * (`recvonly` when the slot carries a publisher, `inactive` when free), offered again whenever the
 * slots change. The caller runs one negotiation at a time ({@link offer}, then {@link applyAnswer}).
 */
export class SubscriberConnection extends MediaConnection {
  readonly connectionId: string;
  readonly #transceivers: RTCRtpTransceiver[] = [];

  constructor(connectionId: string, opts: MediaConnectionOptions = {}) {
    super(opts);
    this.connectionId = connectionId;
  }

  /**
   * Brings the transceivers in line with `slots` (adding new ones at the end) and offers them. The
   * offer sent is {@link compactSubscriberOffer}'s: the one applied locally keeps everything.
   */
  async offer(slots: readonly SubscriberSlot[]): Promise<string> {
    for (const [i, slot] of slots.entries()) {
      const direction: RTCRtpTransceiverDirection = slot.peerId === null ? 'inactive' : 'recvonly';
      const tr = this.#transceivers[i];
      if (tr) {
        if (tr.direction !== direction) tr.direction = direction;
      } else {
        const t = this.pc.addTransceiver(slot.kind, { direction });
        onlyServerCodec(t, slot.kind);
        this.#transceivers.push(t);
      }
    }
    return compactSubscriberOffer(await offerWithCandidates(this.pc, this.gatherTimeoutMs));
  }

  /** Applies the answer and returns which receiving track is whose, per the answer's mid map. */
  async applyMapping(sdp: string, tracks: readonly SubscriberTrack[]): Promise<SubscriberMapping> {
    await this.applyAnswer(sdp);
    const byPeer = new Map<string, Map<MediaKind, MediaStreamTrack>>();
    for (const t of tracks) {
      if (t.peerId === null) continue;
      const tr = this.#transceivers.find((x) => x.mid === t.mid);
      if (!tr) continue;
      let kinds = byPeer.get(t.peerId);
      if (!kinds) byPeer.set(t.peerId, (kinds = new Map()));
      kinds.set(t.kind, tr.receiver.track);
    }
    return { byPeer };
  }

  /** Receiving tracks of this connection (to tell its tracks from others'). */
  get tracks(): MediaStreamTrack[] {
    return this.#transceivers.map((t) => t.receiver.track);
  }
}
