/**
 * {@link Transport} on node-datachannel (libdatachannel): ICE, DTLS and SRTP run in native threads
 * and JS sees plain RTP/RTCP. The only file of the package that imports node-datachannel.
 */
import nd from 'node-datachannel';
import type { IceServer, PeerConnection, RtcConfig, Track } from 'node-datachannel';
import { RtkError, TypedEmitter, silentLogger } from '@trackroom/protocol';
import type { Logger } from '@trackroom/protocol';
import { AUDIO_LEVEL_URI, announceAddress } from './sdp.js';
import type {
  IceOptions,
  TrackSpec,
  Transport,
  TransportPcState,
  TransportPeerConnection,
  TransportPeerConnectionEvents,
  TransportStats,
  TransportTrack,
  TransportTrackEvents,
  PacketHandler,
} from './transport.js';
import { ReceiverReports } from './receiver-reports.js';
import { TurnCredentials } from './turn-credentials.js';

/** libdatachannel takes at most this many TURN servers with libjuice (its MAX_TURN_SERVERS_COUNT). */
const MAX_OWN_RELAYS = 2;

/**
 * Which relays the SFU's own connections can use with libjuice: UDP ones only (it has no TURN over
 * TCP or TLS), at most two, and none with the ICE UDP mux (libjuice ignores TURN in mux mode).
 */
export function ownRelayPlan(ice: IceOptions): { usable: string[]; skipped: { url: string; why: string }[] } {
  const turn = new TurnCredentials(ice.turn);
  const usable: string[] = [];
  const skipped: { url: string; why: string }[] = [];
  for (const u of turn.urls) {
    if (ice.udpMuxPort !== undefined)
      skipped.push({ url: u.url, why: 'the ICE UDP mux is on (RTC_UDP_MUX_PORT=off enables it)' });
    else if (u.transport !== 'udp')
      skipped.push({ url: u.url, why: `libjuice has no TURN over ${u.transport}` });
    else if (usable.length >= MAX_OWN_RELAYS) skipped.push({ url: u.url, why: 'libjuice uses two at most' });
    else usable.push(u.url);
  }
  return { usable, skipped };
}

/** Opus format profile: plain mono-friendly defaults; libdatachannel's default made Chromium send 3x. */
const OPUS_PROFILE = 'minptime=10;useinbandfec=1';

export interface NodeDatachannelTransportOptions {
  ice: IceOptions;
  logger?: Logger;
  /** How long {@link TransportPeerConnection.answer} waits for ICE gathering. Default 5000 ms. */
  gatheringTimeoutMs?: number;
}

class NdTrack extends TypedEmitter<TransportTrackEvents> implements TransportTrack {
  readonly spec: Readonly<TrackSpec>;
  readonly #track: Track;
  #open = false;
  #closed = false;
  #handler: PacketHandler | undefined;

  readonly #onClose: () => void;
  readonly #reports: ReceiverReports | undefined;

  constructor(track: Track, spec: TrackSpec, log: Logger, onClose: () => void, reports?: ReceiverReports) {
    super();
    this.spec = Object.freeze({ ...spec });
    this.#track = track;
    this.#onClose = onClose;
    this.#reports = reports;
    track.onOpen(() => {
      if (this.#closed) return;
      this.#open = true;
      this.emit('open', undefined);
    });
    track.onClosed(() => this.#markClosed());
    track.onError((err) => log.warn({ mid: spec.mid, err }, 'track error'));
    track.onMessage((msg) => {
      // One JS call per packet (a thread-safe function call per message, without a receive time):
      // the time is taken before any other work, so it is late only by the event loop's delay.
      const arrivalMs = Date.now();
      if (this.#reports) {
        const rr = this.#reports.observe(msg);
        if (rr) this.send(rr);
      }
      const h = this.#handler;
      if (h) h(msg, arrivalMs);
    });
  }

  get isOpen(): boolean {
    return this.#open && !this.#closed;
  }

  setPacketHandler(handler: PacketHandler | undefined): void {
    this.#handler = handler;
  }

  send(packet: Uint8Array): boolean {
    if (!this.#open || this.#closed) return false;
    const buf = Buffer.isBuffer(packet)
      ? packet
      : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
    try {
      return this.#track.sendMessageBinary(buf);
    } catch {
      // The native track closed between our check and the send; the closed event follows.
      return false;
    }
  }

  requestKeyframe(): boolean {
    if (!this.#open || this.#closed) return false;
    try {
      return this.#track.requestKeyframe();
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.#closed) return;
    try {
      this.#track.close();
    } catch {
      // Already closed natively; nothing to release.
    }
    this.#markClosed();
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#open = false;
    this.#handler = undefined;
    this.#onClose();
    this.emit('closed', undefined);
  }
}

class NdPeerConnection
  extends TypedEmitter<TransportPeerConnectionEvents>
  implements TransportPeerConnection
{
  readonly label: string;
  readonly #pc: PeerConnection;
  readonly #tracks: NdTrack[] = [];
  readonly #opts: NodeDatachannelTransportOptions;
  readonly #log: Logger;
  readonly #onClose: () => void;
  readonly #live: { tracks: number };
  #state: TransportPcState = 'new';
  #gathered = false;
  #gatherWaiters: (() => void)[] = [];

  constructor(
    label: string,
    opts: NodeDatachannelTransportOptions,
    log: Logger,
    live: { tracks: number },
    onClose: () => void,
    ownIceServers: (label: string) => IceServer[],
  ) {
    super();
    this.label = label;
    this.#live = live;
    this.#opts = opts;
    this.#log = log;
    this.#onClose = onClose;
    const { ice } = opts;
    const config: RtcConfig = { iceServers: ownIceServers(label), bindAddress: ice.bindAddress };
    if (ice.udpMuxPort !== undefined) {
      config.enableIceUdpMux = true;
      config.portRangeBegin = ice.udpMuxPort;
      config.portRangeEnd = ice.udpMuxPort;
    } else {
      if (ice.portRangeBegin !== undefined) config.portRangeBegin = ice.portRangeBegin;
      if (ice.portRangeEnd !== undefined) config.portRangeEnd = ice.portRangeEnd;
    }
    this.#pc = new nd.PeerConnection(label, config);
    this.#pc.onStateChange((s) => this.#setState(s as TransportPcState));
    this.#pc.onGatheringStateChange((s) => {
      if (s !== 'complete') return;
      this.#gathered = true;
      const waiters = this.#gatherWaiters;
      this.#gatherWaiters = [];
      for (const w of waiters) w();
    });
  }

  get state(): TransportPcState {
    return this.#state;
  }

  addTrack(spec: TrackSpec): TransportTrack {
    if (this.#state === 'closed') throw new RtkError('CONFLICT', 'peer connection is closed');
    const dir = spec.direction === 'recvonly' ? 'RecvOnly' : 'SendOnly';
    let media: InstanceType<typeof nd.Audio> | InstanceType<typeof nd.Video>;
    if (spec.kind === 'audio') {
      const audio = new nd.Audio(spec.mid, dir);
      audio.addOpusCodec(spec.payloadType, OPUS_PROFILE);
      if (spec.audioLevelExtId !== undefined)
        audio.parseSdpLine(`a=extmap:${spec.audioLevelExtId} ${AUDIO_LEVEL_URI}`);
      media = audio;
    } else {
      const video = new nd.Video(spec.mid, dir);
      video.addVP8Codec(spec.payloadType);
      video.parseSdpLine(`a=rtcp-fb:${spec.payloadType} nack pli`);
      media = video;
    }
    if (spec.direction === 'sendonly' && spec.ssrc !== undefined) {
      media.addSSRC(spec.ssrc, spec.cname ?? 'trackroom', spec.streamId, spec.trackId);
    }
    const native = this.#pc.addTrack(media);
    // Receiving video tracks get libdatachannel's RTCP session: receiver reports, and PLI for
    // requestKeyframe. It consumes every incoming RTCP packet, sender reports included, so receiving
    // audio tracks answer sender reports from JS instead and pass them on (the recorder measures the
    // sender's clock rate with them).
    let reports: ReceiverReports | undefined;
    if (spec.direction === 'recvonly' && spec.kind === 'video')
      native.setMediaHandler(new nd.RtcpReceivingSession());
    else if (spec.direction === 'recvonly') reports = new ReceiverReports();
    this.#live.tracks++;
    const track = new NdTrack(native, spec, this.#log, () => this.#live.tracks--, reports);
    this.#tracks.push(track);
    return track;
  }

  async answer(offerSdp: string): Promise<string> {
    if (this.#state === 'closed') throw new RtkError('CONFLICT', 'peer connection is closed');
    const gathered = new Promise<void>((resolve, reject) => {
      if (this.#gathered) return resolve();
      const timer = setTimeout(
        () => reject(new RtkError('INTERNAL', 'ICE gathering did not complete')),
        this.#opts.gatheringTimeoutMs ?? 5000,
      );
      this.#gatherWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    try {
      this.#pc.setRemoteDescription(offerSdp, 'offer');
    } catch (err) {
      gathered.catch(() => undefined); // the offer failed; the gathering wait is moot
      throw new RtkError('VALIDATION_FAILED', `sdp was rejected: ${String((err as Error).message ?? err)}`, {
        field: 'sdp',
      });
    }
    await gathered;
    if ((this.#state as TransportPcState) === 'closed')
      throw new RtkError('CONFLICT', 'peer connection closed during negotiation');
    const local = this.#pc.localDescription();
    if (!local || local.type !== 'answer') throw new RtkError('INTERNAL', 'no local answer was generated');
    const announced = this.#opts.ice.announcedAddress;
    return announced ? announceAddress(local.sdp, announced) : local.sdp;
  }

  addRemoteCandidate(candidate: string, mid: string): void {
    if (this.#state === 'closed') return;
    const c = candidate.startsWith('a=') ? candidate.slice(2) : candidate;
    try {
      this.#pc.addRemoteCandidate(c, mid);
    } catch (err) {
      throw new RtkError(
        'VALIDATION_FAILED',
        `candidate was rejected: ${String((err as Error).message ?? err)}`,
        {
          field: 'candidate',
        },
      );
    }
  }

  close(): void {
    if (this.#state === 'closed') return;
    // Tracks first, then the connection: tracks left open keep native memory alive.
    for (const t of this.#tracks) t.close();
    try {
      this.#pc.close();
    } catch (err) {
      this.#log.debug({ err: String(err) }, 'peer connection close threw');
    }
    this.#setState('closed');
  }

  #setState(s: TransportPcState): void {
    if (this.#state === s || this.#state === 'closed') return;
    this.#state = s;
    if (s === 'closed') {
      for (const t of this.#tracks) t.close();
      for (const w of this.#gatherWaiters) w();
      this.#gatherWaiters = [];
      this.#onClose();
    }
    this.emit('stateChange', s);
  }
}

/** node-datachannel implementation of {@link Transport}. */
export class NodeDatachannelTransport implements Transport {
  readonly #opts: NodeDatachannelTransportOptions;
  readonly #log: Logger;
  readonly #pcs = new Set<NdPeerConnection>();
  readonly #live = { tracks: 0 };
  readonly #turn: TurnCredentials;
  readonly #ownRelays: ReadonlySet<string>;
  #closed = false;

  constructor(opts: NodeDatachannelTransportOptions) {
    this.#opts = opts;
    this.#log = (opts.logger ?? silentLogger).child({ component: 'nd-transport' });
    this.#turn = new TurnCredentials(opts.ice.turn);
    const plan = ownRelayPlan(opts.ice);
    this.#ownRelays = new Set(plan.usable);
    if (this.#turn.configured)
      this.#log.info({ relays: plan.usable, skipped: plan.skipped }, 'TURN relays of the SFU side');
  }

  /** node-datachannel's iceServers for connection `label`: objects, so no URL escaping is involved. */
  #ownIceServers(label: string): IceServer[] {
    if (this.#ownRelays.size === 0) return [];
    return this.#turn
      .relays(label)
      .filter((r) => this.#ownRelays.has(r.url))
      .map((r) => ({
        hostname: r.host,
        port: r.port,
        username: r.username,
        password: r.credential,
        relayType: 'TurnUdp' as const,
      }));
  }

  createPeerConnection(label: string): TransportPeerConnection {
    if (this.#closed) throw new RtkError('CONFLICT', 'transport is closed');
    const pc: NdPeerConnection = new NdPeerConnection(
      label,
      this.#opts,
      this.#log,
      this.#live,
      () => this.#pcs.delete(pc),
      (l) => this.#ownIceServers(l),
    );
    this.#pcs.add(pc);
    return pc;
  }

  /** Number of peer connections not yet closed (for tests and stats). */
  get openPeerConnections(): number {
    return this.#pcs.size;
  }

  stats(): TransportStats {
    return { peerConnections: this.#pcs.size, tracks: this.#live.tracks };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const pc of [...this.#pcs]) pc.close();
  }
}
