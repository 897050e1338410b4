/**
 * The single-mode subscribing side of a node-datachannel test client: ONE receive-only peer
 * connection, renegotiated on every `subscriberUpdate` (one negotiation at a time, always the latest
 * slots), counting the RTP that arrives per publisher through the answer's mid → publisher map. The
 * same contract as the werift {@link SingleSubscriber}, for load generation at a third of its CPU
 * (ICE, DTLS and SRTP in native threads).
 *
 * Limitation: libdatachannel cannot turn an m-line it offered recvonly into inactive, so a slot that
 * is freed later stays recvonly here (the server forwards nothing into it). Load tools whose
 * participants only join are unaffected.
 */
import nd from 'node-datachannel';
import type { PeerConnection, Track } from 'node-datachannel';
import { SUBSCRIBER_PC_ID } from '@trackroom/protocol';
import { candidatesOnlyOn, isRtcp, offerDtlsServer, withheldCandidates } from './ndc-audio-peer.js';
import { RenegotiatingSubscriber } from './renegotiating-subscriber.js';
import type { ServerMsg, SignallingSocket } from './signalling-socket.js';

const OPUS_PROFILE = 'minptime=10;useinbandfec=1';

export interface NdcSingleSubscriberOptions {
  /** The one local address ICE uses. Default 127.0.0.1. */
  bindAddress?: string;
  /** Opus payload type to offer. Default 111. */
  payloadType?: number;
  /** Longest wait for one answer or for gathering. Default 15 s. */
  timeoutMs?: number;
}

let labels = 0;

export class NdcSingleSubscriber extends RenegotiatingSubscriber {
  readonly #o: Required<NdcSingleSubscriberOptions>;
  #pc: PeerConnection | undefined;
  #connectionId = '';
  #state = 'new';
  readonly #tracks: Track[] = [];

  constructor(sig: SignallingSocket, o: NdcSingleSubscriberOptions = {}) {
    super(sig);
    this.#o = {
      bindAddress: o.bindAddress ?? '127.0.0.1',
      payloadType: o.payloadType ?? 111,
      timeoutMs: o.timeoutMs ?? 15_000,
    };
  }

  /** Peer connections open now for subscribing: 0 or 1. */
  get openConnections(): number {
    return this.#pc && !this.closed && this.#state !== 'closed' ? 1 : 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.#tracks) {
      try {
        t.close();
      } catch {
        // already closed natively
      }
    }
    try {
      this.#pc?.close();
    } catch {
      // already closed natively
    }
  }

  protected async negotiate(plan: ServerMsg<'subscriberUpdate'>): Promise<void> {
    let first = false;
    if (plan.connectionId !== this.#connectionId) {
      this.close();
      this.closed = false;
      this.#tracks.length = 0;
      this.byMid.clear();
      this.#connectionId = plan.connectionId;
      this.offered = 0;
      this.#pc = this.#newPc();
      first = true;
    }
    const pc = this.#pc!;
    for (const [i, slot] of plan.slots.entries()) {
      if (i < this.#tracks.length) continue;
      if (slot.kind !== 'audio')
        throw new Error(`slot ${i}: only audio slots are supported, not ${slot.kind}`);
      const audio = new nd.Audio(String(i), 'RecvOnly');
      audio.addOpusCodec(this.#o.payloadType, OPUS_PROFILE);
      const track = pc.addTrack(audio);
      track.setMediaHandler(new nd.RtcpReceivingSession());
      const mid = String(i);
      track.onMessage((msg) => {
        if (!isRtcp(msg)) this.count(mid);
      });
      this.#tracks.push(track);
    }
    const gathered = first ? this.#gathered(pc) : Promise.resolve();
    pc.setLocalDescription('offer');
    await gathered;
    const local = pc.localDescription();
    if (!local) throw new Error('no local offer');
    // As the publisher does: candidates withheld until the answer is in, and this side the DTLS server
    // (see offerDtlsServer: as DTLS client its first handshake packet was often lost, costing 1 s).
    const { sdp, candidates } = withheldCandidates(
      offerDtlsServer(candidatesOnlyOn(local.sdp, this.#o.bindAddress)),
    );
    this.offered = plan.version;
    this.sig.send({
      type: 'subscriberOffer',
      connectionId: plan.connectionId,
      version: plan.version,
      sdp,
    });
    const answer = await this.sig.waitFor(
      'subscriberAnswer',
      (a) => a.connectionId === plan.connectionId && a.version === plan.version,
      this.#o.timeoutMs,
    );
    if (this.#connectionId !== plan.connectionId || this.closed) return;
    pc.setRemoteDescription(answer.sdp, 'answer');
    for (const t of answer.tracks) this.byMid.set(t.mid, t.peerId);
    // Candidates go once the first answer is in place (see withheldCandidates).
    if (first)
      for (const candidate of candidates)
        this.sig.send({ type: 'candidate', pcId: SUBSCRIBER_PC_ID, candidate, sdpMid: '0' });
    this.negotiations++;
  }

  #gathered(pc: PeerConnection): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('ICE gathering not complete')), this.#o.timeoutMs);
      pc.onGatheringStateChange((s) => {
        if (s !== 'complete') return;
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #newPc(): PeerConnection {
    const pc = new nd.PeerConnection(`load-single-${++labels}`, {
      iceServers: [],
      bindAddress: this.#o.bindAddress,
      disableAutoNegotiation: true,
    });
    pc.onStateChange((s) => {
      this.#state = s;
    });
    return pc;
  }
}
