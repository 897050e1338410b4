/**
 * The single-mode subscribing side of a werift test client: ONE receive-only peer connection,
 * renegotiated on every `subscriberUpdate` (one negotiation at a time, always the latest slots),
 * counting the RTP that arrives per publisher through the answer's mid → publisher map. What the
 * SDK does in a browser, for tests and load generation. Audio slots only are counted; video slots
 * are offered like the others.
 */
import { RTCPeerConnection, RTCRtpCodecParameters, type RTCRtpTransceiver } from 'werift';
import { gathered, loopbackIce, loopbackOnly } from '@trackroom/sfu/testing';
import { RenegotiatingSubscriber } from './renegotiating-subscriber.js';
import type { SignallingSocket, ServerMsg } from './signalling-socket.js';

export interface SingleSubscriberOptions {
  /** Opus payload type to offer. Default 111. */
  payloadType?: number;
  /** Longest wait for one answer. Default 15 s. */
  timeoutMs?: number;
}

export class SingleSubscriber extends RenegotiatingSubscriber {
  /** Peer connections this client created for subscribing (a new connectionId creates one). */
  connectionsCreated = 0;
  readonly #pt: number;
  readonly #timeoutMs: number;
  #pc: RTCPeerConnection | undefined;
  #connectionId = '';
  readonly #transceivers: RTCRtpTransceiver[] = [];

  constructor(sig: SignallingSocket, o: SingleSubscriberOptions = {}) {
    super(sig);
    this.#pt = o.payloadType ?? 111;
    this.#timeoutMs = o.timeoutMs ?? 15_000;
  }

  /** The subscribing peer connection's state ('none' before the first update). */
  get connectionState(): string {
    return this.#pc?.connectionState ?? 'none';
  }

  /** Peer connections open now for subscribing: 0 or 1. */
  get openConnections(): number {
    return this.#pc && this.#pc.connectionState !== 'closed' ? 1 : 0;
  }

  /** The publishers the last applied answer maps to an m-line. */
  get mappedPublishers(): string[] {
    return [...new Set([...this.byMid.values()].filter((p): p is string => p !== null))];
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.#pc?.close();
  }

  protected async negotiate(plan: ServerMsg<'subscriberUpdate'>): Promise<void> {
    if (plan.connectionId !== this.#connectionId) {
      await this.#pc?.close();
      this.#transceivers.length = 0;
      this.byMid.clear();
      this.#connectionId = plan.connectionId;
      this.offered = 0;
      this.#pc = this.#newPc();
      this.connectionsCreated++;
    }
    const pc = this.#pc!;
    for (const [i, slot] of plan.slots.entries()) {
      const direction = slot.peerId === null ? 'inactive' : 'recvonly';
      let tr = this.#transceivers[i];
      if (!tr) {
        tr = pc.addTransceiver(slot.kind, { direction });
        this.#transceivers.push(tr);
        const t = tr;
        if (slot.kind === 'audio') {
          t.onTrack.subscribe((track) => {
            track.onReceiveRtp.subscribe(() => this.count(t.mid));
          });
        }
      } else tr.setDirection(direction);
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    this.offered = plan.version;
    this.sig.send({
      type: 'subscriberOffer',
      connectionId: plan.connectionId,
      version: plan.version,
      sdp: loopbackOnly(pc.localDescription!.sdp),
    });
    const answer = await this.sig.waitFor(
      'subscriberAnswer',
      (a) => a.connectionId === plan.connectionId && a.version === plan.version,
      this.#timeoutMs,
    );
    if (this.#connectionId !== plan.connectionId || this.closed) return;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    for (const t of answer.tracks) this.byMid.set(t.mid, t.peerId);
    this.negotiations++;
  }

  #newPc(): RTCPeerConnection {
    return new RTCPeerConnection({
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
}
