/**
 * One node-datachannel (libdatachannel) peer connection that offers a single Opus m-line, sendonly
 * or recvonly, with ICE on one address only (no STUN, no other interface): the part that load
 * generators and test clients share, whichever signalling carries the SDP. ICE, DTLS and SRTP run in
 * native threads; JS sends and receives plain RTP/RTCP on {@link NdcAudioPeer.track}.
 */
import nd from 'node-datachannel';
import type { PeerConnection, Track } from 'node-datachannel';

/** The Opus format profile the SFU itself offers (libdatachannel's default asks for stereo at 96 kb/s). */
const OPUS_PROFILE = 'minptime=10;useinbandfec=1';

export interface NdcAudioPeerOptions {
  /** Names the connection in libdatachannel's logs. */
  label: string;
  /** The one local address ICE uses (127.0.0.1 in tests; the bench's interface for Janus). */
  bindAddress: string;
  direction: 'sendonly' | 'recvonly';
  /** Opus payload type to offer. Default 111 (Chromium's). */
  payloadType?: number;
  /** Sendonly: the SSRC announced in the offer. */
  ssrc?: number;
  /**
   * Recvonly: attach libdatachannel's RTCP receiving session (receiver reports sent natively, RTCP
   * consumed there, so the track's messages are RTP only). Default true.
   */
  rtcpReceiver?: boolean;
}

/** RFC 5761: byte 1 in 192..223 is RTCP (the rest of an rtcp-mux track's messages is RTP). */
export const isRtcp = (b: Uint8Array): boolean => b.length > 1 && b[1]! >= 192 && b[1]! <= 223;

/** Keeps only the candidates on `address` (traffic never leaves the address the caller chose). */
export function candidatesOnlyOn(sdp: string, address: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') || l.includes(` ${address} `))
    .join('\r\n');
}

/**
 * Splits an SDP into the SDP without its candidates (and without `a=end-of-candidates`) and the
 * candidate attribute values (`candidate:...`), to be trickled once the answer is applied.
 *
 * Why: when this peer offers with its candidates inside, the answerer's connectivity checks (and
 * DTLS) can reach it before its own answer is applied; under load libdatachannel then fails a few
 * percent of setups ("Got a remote candidate without ICE transport", or a certificate that does
 * not verify). Withheld candidates reach the answerer only after the answer is in place here.
 */
export function withheldCandidates(sdp: string): { sdp: string; candidates: string[] } {
  const lines = sdp.split('\r\n');
  const candidates = lines.filter((l) => l.startsWith('a=candidate:')).map((l) => l.slice(2));
  const rest = lines.filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates');
  return { sdp: rest.join('\r\n'), candidates };
}

/**
 * Offers to be the DTLS server (`a=setup:passive` instead of `actpass`), so the answerer sends the
 * first handshake packet once its own ICE is up. As DTLS client, this peer's first ClientHello
 * often reached an answerer whose ICE was not up yet (it had not heard the trickled candidate), was
 * dropped, and went again only after libdatachannel's 1 s retransmission timer: about half of the
 * setups took a second instead of tens of milliseconds.
 */
export function offerDtlsServer(sdp: string): string {
  return sdp.replace(/^a=setup:actpass(\r?)$/gm, 'a=setup:passive$1');
}

export class NdcAudioPeer {
  readonly options: Readonly<NdcAudioPeerOptions>;
  #pc: PeerConnection | undefined;
  #track: Track | undefined;
  #open = false;
  #closed = false;
  #state = 'new';
  #waiters = new Set<() => void>();

  /** No I/O: {@link offer} creates the native connection. */
  constructor(o: NdcAudioPeerOptions) {
    this.options = Object.freeze({ ...o });
  }

  get payloadType(): number {
    return this.options.payloadType ?? 111;
  }

  /** The native track, once {@link offer} made it. */
  get track(): Track | undefined {
    return this.#closed ? undefined : this.#track;
  }

  /** The track is open (DTLS-SRTP up) and not closed. */
  get isOpen(): boolean {
    return this.#open && !this.#closed;
  }

  /** The peer connection's state as libdatachannel reports it ('closed' after {@link close}). */
  get state(): string {
    return this.#closed ? 'closed' : this.#state;
  }

  /**
   * Creates the connection and its track, gathers (no trickle) and resolves with the offer, its
   * candidates limited to the bind address. Call once.
   */
  async offer(timeoutMs = 5000): Promise<string> {
    if (this.#pc) throw new Error(`${this.options.label}: offer() was already called`);
    if (this.#closed) throw new Error(`${this.options.label}: closed`);
    const o = this.options;
    const pc = new nd.PeerConnection(o.label, { iceServers: [], bindAddress: o.bindAddress });
    this.#pc = pc;
    pc.onStateChange((s) => {
      this.#state = s;
      this.#wake();
    });
    const gathered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${o.label}: ICE gathering not complete in ${timeoutMs} ms`)),
        timeoutMs,
      );
      pc.onGatheringStateChange((s) => {
        if (s !== 'complete') return;
        clearTimeout(timer);
        resolve();
      });
    });
    const audio = new nd.Audio('0', o.direction === 'sendonly' ? 'SendOnly' : 'RecvOnly');
    audio.addOpusCodec(this.payloadType, OPUS_PROFILE);
    if (o.direction === 'sendonly' && o.ssrc !== undefined) audio.addSSRC(o.ssrc, 'trackroom-load');
    const track = pc.addTrack(audio);
    this.#track = track;
    if (o.direction === 'recvonly' && o.rtcpReceiver !== false)
      track.setMediaHandler(new nd.RtcpReceivingSession());
    track.onOpen(() => {
      this.#open = true;
      this.#wake();
    });
    track.onClosed(() => {
      this.#open = false;
      this.#wake();
    });
    pc.setLocalDescription('offer');
    await gathered;
    const local = pc.localDescription();
    if (!local) throw new Error(`${o.label}: no local description`);
    return candidatesOnlyOn(local.sdp, o.bindAddress);
  }

  /** Applies the remote answer. */
  accept(answerSdp: string): void {
    if (!this.#pc || this.#closed) throw new Error(`${this.options.label}: no offer made, or closed`);
    this.#pc.setRemoteDescription(answerSdp, 'answer');
  }

  /** Resolves once the connection is up and the track open; rejects on failure, close or timeout. */
  connected(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.isOpen && this.#state === 'connected') return done();
        if (this.#closed || this.#state === 'failed' || this.#state === 'closed')
          return done(new Error(`${this.options.label}: connection ${this.state}`));
      };
      const timer = setTimeout(
        () => done(new Error(`${this.options.label}: not connected in ${timeoutMs} ms (${this.state})`)),
        timeoutMs,
      );
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Track first, then the connection (tracks left open keep native memory). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#open = false;
    try {
      this.#track?.close();
    } catch {
      // Already closed natively: nothing left to release.
    }
    try {
      this.#pc?.close();
    } catch {
      // Already closed natively: nothing left to release.
    }
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}
