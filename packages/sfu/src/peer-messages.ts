/**
 * What each signalling message of a peer does: join (with the meeting's state for `joined`),
 * publish, subscribe, trickled candidates, media state, ping and leave. Runs in the peer's queue;
 * a thrown RtkError is the peer's answer ({@link PeerMessages.failed}).
 */
import {
  PUBLISH_PC_ID,
  RtkError,
  SUBSCRIBER_PC_ID,
  SignallingCloseCodes,
  errorMessage,
} from '@trackroom/protocol';
import type { ClientMessage, MediaKind, PeerLeftReason, SignallingCloseCode } from '@trackroom/protocol';
import type { PeerSession } from './peer-session.js';
import { requestKeyframe } from './publication.js';
import type { Publications } from './publication.js';
import type { Roster } from './roster.js';
import type { SfuCounters, SfuOptions } from './sfu-types.js';
import type { Subscriptions } from './subscription.js';

export interface PeerMessagesOptions {
  roster: Roster;
  publications: Publications;
  subscriptions: Subscriptions;
  counters: SfuCounters;
  initialState: SfuOptions['initialState'];
  /** Ends the peer (a `leave`). */
  close(peer: PeerSession, reason: PeerLeftReason, code: SignallingCloseCode): void;
}

export class PeerMessages {
  readonly #o: PeerMessagesOptions;

  constructor(o: PeerMessagesOptions) {
    this.#o = o;
  }

  /** A message's work failed: malformed input counts towards the refusal limit, the rest is answered. */
  failed(peer: PeerSession, what: string, err: unknown): void {
    if (!(err instanceof RtkError)) peer.log.error({ err: String(err), what }, 'handler failed');
    if (
      err instanceof RtkError &&
      (err.code === 'VALIDATION_FAILED' || err.code === 'SIGNALLING_INVALID_MESSAGE')
    )
      peer.refuse(err, what);
    else peer.send(errorMessage(err, what));
  }

  /** Runs one message of a peer (in its queue); throws what the peer is answered with. */
  async handle(peer: PeerSession, msg: ClientMessage): Promise<void> {
    switch (msg.type) {
      case 'ping':
        peer.send(msg.ts === undefined ? { type: 'pong' } : { type: 'pong', ts: msg.ts });
        return;
      case 'leave':
        peer.leaving = true;
        this.#o.close(peer, 'left', SignallingCloseCodes.NORMAL);
        return;
      case 'join':
        if (peer.state.phase === 'ready') peer.subscriberMode = msg.subscriber ?? 'perPublisher';
        await this.#join(peer, msg.name, msg.audio, msg.video);
        return;
    }
    if (peer.state.phase !== 'joined') throw new RtkError('CONFLICT', `send join before ${msg.type}`);
    switch (msg.type) {
      case 'publishOffer':
        await this.#o.publications.publish(peer, msg.sdp);
        return;
      case 'subscribeOffer':
        await this.#o.subscriptions.answer(peer, msg.subscriptionId, msg.sdp);
        return;
      case 'subscriberOffer':
        if (peer.subscriberMode !== 'single')
          throw new RtkError('CONFLICT', "subscriberOffer needs join with subscriber: 'single'");
        await this.#o.subscriptions.single.answer(peer, msg.connectionId, msg.version, msg.sdp);
        return;
      case 'candidate': {
        if (msg.candidate === '') return;
        const pc =
          msg.pcId === PUBLISH_PC_ID
            ? peer.publication?.pc
            : msg.pcId === SUBSCRIBER_PC_ID
              ? peer.subscriber?.pc
              : peer.subscriptions.get(msg.pcId)?.pc;
        if (!pc) throw new RtkError('NOT_FOUND', `no peer connection ${msg.pcId}`, { field: 'pcId' });
        pc.addRemoteCandidate(msg.candidate, msg.sdpMid ?? '0');
        return;
      }
      case 'mediaState': {
        const id = peer.state.identity;
        if (msg.enabled && !(msg.kind === 'audio' ? id.canProduceAudio : id.canProduceVideo)) {
          throw new RtkError('FORBIDDEN', `this participant may not produce ${msg.kind}`);
        }
        this.setMediaState(peer, msg.kind, msg.enabled, false);
        return;
      }
    }
  }

  async #join(peer: PeerSession, name: string | undefined, audio: boolean, video: boolean): Promise<void> {
    const ready = peer.state;
    if (ready.phase !== 'ready') throw new RtkError('CONFLICT', 'already joined');
    const id = ready.identity;
    // Admitted peers carry their recordings (kept current by broadcasts); others ask the owner.
    const initial =
      ready.admitted || !this.#o.initialState ? undefined : await this.#o.initialState(id.meetingId, id);
    if (peer.state !== ready) return;
    const recordings = ready.admitted ?? initial?.recordings ?? this.#o.roster.recordings(id.meetingId);
    peer.join(name, audio, video, Date.now());
    const others = this.#o.roster.join(peer, id.meetingTitle, recordings);
    for (const o of others) {
      if (o.publication && !o.identity?.hidden) this.#o.subscriptions.offer(o, peer, 1);
    }
  }

  /** A peer's media state changes (by itself, or by a host): announced when it did change. */
  setMediaState(peer: PeerSession, kind: MediaKind, enabled: boolean, byHost: boolean): void {
    const media = peer.media;
    if (!media || !peer.setEnabled(kind, enabled)) return;
    if (kind === 'video' && enabled) requestKeyframe(peer, this.#o.counters);
    this.#o.roster.announceMediaState(peer, media, kind, byHost);
  }
}
