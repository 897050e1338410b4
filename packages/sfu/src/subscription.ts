/**
 * Subscriptions: one receive-only peer connection per (subscriber, publisher) pair. The SFU offers a
 * subscription (`subscribe`), the subscriber answers with its offer (`subscribeOffer`), the SFU
 * answers that (`subscribeAnswer`) and the publisher's packets flow into it; a failed connection is
 * offered again up to {@link MAX_SUBSCRIBE_ATTEMPTS} times.
 */
import { randomInt } from 'node:crypto';
import { RtkError } from '@trackroom/protocol';
import { hasKeyframeRequest } from './rtp.js';
import { requestKeyframe } from './publication.js';
import type { PeerSession } from './peer-session.js';
import { parseSdp, preferRemoteDtlsClient } from './sdp.js';
import { pickSubscribeMedia } from './sdp-media.js';
import type { MediaContext, Subscription } from './sfu-types.js';
import { SubscriberConnections } from './subscriber-connection.js';
import { watchConnection } from './watch-connection.js';

export const MAX_SUBSCRIBE_ATTEMPTS = 3;

export class Subscriptions {
  readonly #ctx: MediaContext;
  /** Subscribers that asked for one subscribing connection (`subscriber: 'single'`). */
  readonly single: SubscriberConnections;
  #counter = 0;

  constructor(ctx: MediaContext) {
    this.#ctx = ctx;
    this.single = new SubscriberConnections(ctx);
  }

  /** Offers `subscriber` the publisher's media (once per publisher; nothing when it publishes nothing). */
  offer(publisher: PeerSession, subscriber: PeerSession, attempt: number): void {
    if (subscriber.subscriberMode === 'single') {
      this.single.add(publisher, subscriber);
      return;
    }
    const pub = publisher.publication;
    if (!pub || pub.kinds.length === 0 || subscriber.state.phase !== 'joined') return;
    // A peer that joins while the publisher's answer is being made is offered the publication by
    // both the join and the publish path: one subscription per publisher is enough (a failed one is
    // removed before its retry, so retries pass).
    for (const other of subscriber.subscriptions.values())
      if (other.publisher === publisher && !other.closed) return;
    const s: Subscription = {
      id: `sub-${++this.#counter}`,
      publisher,
      subscriber,
      kinds: [...pub.kinds],
      attempt,
      closed: false,
    };
    subscriber.subscriptions.set(s.id, s);
    subscriber.send({ type: 'subscribe', subscriptionId: s.id, peerId: publisher.id, kinds: s.kinds });
  }

  /** Answers the subscriber's offer for one of its subscriptions and starts forwarding into it. */
  async answer(peer: PeerSession, subscriptionId: string, sdp: string): Promise<void> {
    const s = peer.subscriptions.get(subscriptionId);
    if (!s) throw new RtkError('NOT_FOUND', `no subscription ${subscriptionId}`, { field: 'subscriptionId' });
    if (s.pc) throw new RtkError('CONFLICT', `subscription ${subscriptionId} is already negotiated`);
    const picked = pickSubscribeMedia(parseSdp(sdp), s.kinds);
    const pc = this.#ctx.transport().createPeerConnection(`${peer.id}/${s.id}`);
    s.pc = pc;
    const publisherId = s.publisher.id;
    const counters = this.#ctx.counters;
    for (const { kind, media, payloadType } of picked) {
      const ssrc = randomInt(1, 0xffffffff);
      const track = pc.addTrack({
        kind,
        mid: media.mid,
        direction: 'sendonly',
        codec: kind === 'audio' ? 'opus' : 'VP8',
        payloadType,
        ssrc,
        cname: publisherId,
        streamId: publisherId,
        trackId: `${publisherId}-${kind}`,
      });
      if (kind === 'audio') s.audio = { track, ssrc, payloadType };
      else {
        s.video = { track, ssrc, payloadType };
        track.once('open', () => requestKeyframe(s.publisher, counters));
        // The subscriber's RTCP arrives here: forward its keyframe requests to the publisher.
        track.setPacketHandler((pkt) => {
          if (hasKeyframeRequest(pkt)) requestKeyframe(s.publisher, counters);
        });
      }
    }
    let answer: string;
    try {
      answer = await pc.answer(preferRemoteDtlsClient(sdp));
    } catch (err) {
      s.pc = undefined;
      s.audio = undefined;
      s.video = undefined;
      pc.close();
      throw err;
    }
    if (s.closed) return;
    s.publisher.subscribers.add(s);
    peer.send({ type: 'subscribeAnswer', subscriptionId: s.id, sdp: answer });
    watchConnection(pc, this.#ctx.connectTimeoutMs, () => {
      if (s.closed) return;
      peer.log.warn({ subscriptionId: s.id, state: pc.state, attempt: s.attempt }, 'subscription failed');
      peer.send({ type: 'unsubscribe', subscriptionId: s.id, peerId: s.publisher.id });
      this.close(s);
      if (s.attempt < MAX_SUBSCRIBE_ATTEMPTS && s.publisher.state.phase === 'joined') {
        this.offer(s.publisher, peer, s.attempt + 1);
      }
    });
  }

  close(s: Subscription): void {
    if (s.closed) return;
    s.closed = true;
    s.subscriber.subscriptions.delete(s.id);
    s.publisher.subscribers.delete(s);
    s.pc?.close();
  }

  /** Closes every subscription of `subscriber` (it leaves). */
  closeOf(subscriber: PeerSession): void {
    for (const s of [...subscriber.subscriptions.values()]) this.close(s);
    this.single.close(subscriber);
  }

  /**
   * Ends every subscription to `publisher`'s media, telling each subscriber (`unsubscribe`):
   * negotiated ones, and offered ones not answered yet among `members`.
   */
  endFor(publisher: PeerSession, members: Iterable<PeerSession>): void {
    const list = [...members];
    this.single.removeFrom(publisher, list);
    for (const s of [...publisher.subscribers]) {
      if (s.subscriber.subscriberMode === 'single') continue; // freed by removeFrom above
      s.subscriber.send({ type: 'unsubscribe', subscriptionId: s.id, peerId: publisher.id });
      this.close(s);
    }
    for (const o of list) {
      for (const s of [...o.subscriptions.values()]) {
        if (s.publisher === publisher) {
          o.send({ type: 'unsubscribe', subscriptionId: s.id, peerId: publisher.id });
          this.close(s);
        }
      }
    }
  }
}
