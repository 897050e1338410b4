/**
 * Single-mode subscribing: ONE receive-only peer connection per subscriber, renegotiated as
 * publishers come and go. The SFU owns the list of slots (m-line index → kind and publisher, or
 * free) and announces it (`subscriberUpdate`); the subscriber offers it (`subscriberOffer`), the SFU
 * answers (`subscriberAnswer`, with each mid's publisher) and forwards into the slots the answer
 * made active. Slots are never removed, because libdatachannel cannot remove m-lines: a leaving
 * publisher frees its slots (the subscriber offers them `inactive`) and the next publisher of that
 * kind reuses them, under the slot's SSRC with continuous sequence numbers and timestamps.
 */
import { randomInt } from 'node:crypto';
import { RtkError } from '@trackroom/protocol';
import type { MediaKind, SubscriberTrack } from '@trackroom/protocol';
import { hasKeyframeRequest } from './rtp.js';
import { requestKeyframe } from './publication.js';
import type { PeerSession } from './peer-session.js';
import { findPayloadType, inactivateMids, parseSdp, preferRemoteDtlsClient } from './sdp.js';
import { invalidOffer } from './sdp-media.js';
import type { MediaContext, OutTrack, Subscription } from './sfu-types.js';
import type { TransportPeerConnection } from './transport.js';
import { watchConnection } from './watch-connection.js';

/** After a video slot starts forwarding, keyframes are asked for again at these delays (ms). */
const KEYFRAME_RETRY_MS = [350, 1000];

/** One m-line of a subscribing connection. */
interface Slot {
  readonly index: number;
  readonly kind: MediaKind;
  /** Whose media the slot carries in the plan; undefined when free. */
  publisher: PeerSession | undefined;
  /** Bound at the first offer that holds the slot. */
  mid?: string;
  out?: OutTrack;
  /** Forwarding into the slot now (set by an answer that made it active). */
  forward?: Subscription;
}

/** A subscriber's one subscribing connection. */
export interface SubscriberConnection {
  readonly id: string;
  readonly peer: PeerSession;
  version: number;
  readonly slots: Slot[];
  pc?: TransportPeerConnection;
  updateScheduled: boolean;
  /** An answer went out (its connection is watched from then on). */
  answered: boolean;
  closed: boolean;
}

export class SubscriberConnections {
  readonly #ctx: MediaContext;
  #counter = 0;

  constructor(ctx: MediaContext) {
    this.#ctx = ctx;
  }

  /** Gives `publisher`'s media slots in `subscriber`'s connection (free ones of the kind first). */
  add(publisher: PeerSession, subscriber: PeerSession): void {
    const pub = publisher.publication;
    if (!pub || pub.kinds.length === 0 || subscriber.state.phase !== 'joined') return;
    const conn = (subscriber.subscriber ??= this.#newConnection(subscriber));
    if (conn.slots.some((s) => s.publisher === publisher)) return;
    for (const kind of pub.kinds) {
      const free = conn.slots.find((s) => s.kind === kind && s.publisher === undefined);
      if (free) {
        free.publisher = publisher;
        if (free.out?.rebase) free.out.rebase.pending = true;
      } else conn.slots.push({ index: conn.slots.length, kind, publisher });
    }
    this.#scheduleUpdate(conn);
  }

  /** Frees `publisher`'s slots in the connections of `members` (it stopped publishing or left). */
  removeFrom(publisher: PeerSession, members: Iterable<PeerSession>): void {
    for (const m of members) {
      const conn = m.subscriber;
      if (!conn || conn.closed) continue;
      let changed = false;
      for (const slot of conn.slots) {
        if (slot.publisher !== publisher) continue;
        slot.publisher = undefined;
        this.#stopForward(slot);
        changed = true;
      }
      if (changed) this.#scheduleUpdate(conn);
    }
  }

  /** Answers the subscriber's offer of its slots and forwards into the ones it made active. */
  async answer(peer: PeerSession, connectionId: string, version: number, sdp: string): Promise<void> {
    const conn = peer.subscriber;
    if (!conn || conn.closed || conn.id !== connectionId)
      throw new RtkError('NOT_FOUND', `no subscribing connection ${connectionId}`, { field: 'connectionId' });
    if (version > conn.version)
      throw new RtkError('VALIDATION_FAILED', `version ${version} was never announced`, { field: 'version' });
    const media = parseSdp(sdp).media;
    if (media.length > conn.slots.length)
      throw invalidOffer(`the offer has ${media.length} m-lines for ${conn.slots.length} slots`);
    // Every m-line is checked before anything is created: a refused offer leaves no track behind.
    const offered: { slot: Slot; active: boolean; mid: string; payloadType: number }[] = [];
    for (const [i, m] of media.entries()) {
      const slot = conn.slots[i]!;
      if (m.port === 0) continue;
      if (m.kind !== slot.kind) throw invalidOffer(`m-line ${i} must be ${slot.kind}, not ${m.kind}`);
      if (!m.mid) throw invalidOffer(`m-line ${i} has no a=mid`);
      if (slot.mid !== undefined && slot.mid !== m.mid)
        throw invalidOffer(`m-line ${i} changed its mid from ${slot.mid} to ${m.mid}`);
      const codec = findPayloadType(m, slot.kind === 'audio' ? 'opus' : 'VP8');
      if (!codec) throw invalidOffer(`m-line ${i} offers no ${slot.kind === 'audio' ? 'opus' : 'VP8'}`);
      if (m.direction !== 'recvonly' && m.direction !== 'sendrecv' && m.direction !== 'inactive')
        throw invalidOffer(`m-line ${i} must be recvonly or inactive`);
      const active = m.direction !== 'inactive';
      if (!slot.out && !active) throw invalidOffer(`m-line ${i} is new and must be recvonly`);
      offered.push({ slot, active, mid: m.mid, payloadType: codec.payloadType });
    }
    for (const { slot, mid, payloadType } of offered) {
      if (!slot.out) {
        slot.mid = mid;
        this.#createTrack(conn, slot, mid, payloadType);
      } else slot.out.payloadType = payloadType;
    }
    const pc = conn.pc;
    if (!pc) throw invalidOffer('the first offer needs a recvonly m-line');
    const inactive = new Set(offered.filter((x) => !x.active).map((x) => x.slot.mid!));
    const answer = inactivateMids(await pc.answer(preferRemoteDtlsClient(sdp)), inactive);
    if (conn.closed) return;
    const tracks: SubscriberTrack[] = [];
    for (const { slot, active } of offered) {
      if (active && slot.publisher) this.#startForward(conn, slot, slot.publisher);
      else this.#stopForward(slot);
      tracks.push({
        mid: slot.mid!,
        kind: slot.kind,
        peerId: slot.forward ? slot.forward.publisher.id : null,
      });
    }
    peer.send({ type: 'subscriberAnswer', connectionId: conn.id, version, sdp: answer, tracks });
    if (conn.answered) return;
    conn.answered = true;
    watchConnection(pc, this.#ctx.connectTimeoutMs, () => this.#failed(conn, pc));
  }

  /** Closes `subscriber`'s connection (it leaves). */
  close(subscriber: PeerSession): void {
    const conn = subscriber.subscriber;
    if (!conn) return;
    subscriber.subscriber = undefined;
    this.#closeConnection(conn);
  }

  #newConnection(peer: PeerSession): SubscriberConnection {
    return {
      id: `subpc-${++this.#counter}`,
      peer,
      version: 0,
      slots: [],
      updateScheduled: false,
      answered: false,
      closed: false,
    };
  }

  #closeConnection(conn: SubscriberConnection): void {
    if (conn.closed) return;
    conn.closed = true;
    for (const slot of conn.slots) this.#stopForward(slot);
    conn.pc?.close();
  }

  /**
   * The connection never came up (or failed): a new one with the same publishers in fresh slots.
   * Clients see a new `connectionId` and start over.
   */
  #failed(conn: SubscriberConnection, pc: TransportPeerConnection): void {
    const peer = conn.peer;
    if (conn.closed || peer.subscriber !== conn) return;
    peer.log.warn({ connectionId: conn.id, state: pc.state }, 'subscribing connection failed; starting anew');
    this.#closeConnection(conn);
    const next = this.#newConnection(peer);
    peer.subscriber = next;
    const publishers = new Set<PeerSession>();
    for (const s of conn.slots) if (s.publisher?.state.phase === 'joined') publishers.add(s.publisher);
    for (const p of publishers) this.add(p, peer);
    if (publishers.size === 0) this.#scheduleUpdate(next);
  }

  #createTrack(conn: SubscriberConnection, slot: Slot, mid: string, payloadType: number): void {
    const pc = (conn.pc ??= this.#ctx.transport().createPeerConnection(`${conn.peer.id}/${conn.id}`));
    const ssrc = randomInt(1, 0xffffffff);
    const track = pc.addTrack({
      kind: slot.kind,
      mid,
      direction: 'sendonly',
      codec: slot.kind === 'audio' ? 'opus' : 'VP8',
      payloadType,
      ssrc,
      cname: `trackroom-${conn.id}`,
      streamId: `slot-${slot.index}`,
      trackId: `slot-${slot.index}-${slot.kind}`,
    });
    slot.out = {
      track,
      ssrc,
      payloadType,
      rebase: {
        pending: true,
        seqDelta: 0,
        tsDelta: 0,
        lastSeq: 0,
        lastTs: 0,
        lastMs: -1,
        clockRate: slot.kind === 'audio' ? 48000 : 90000,
      },
    };
    if (slot.kind === 'video') {
      const counters = this.#ctx.counters;
      // The subscriber's RTCP: its keyframe requests go to whoever the slot forwards now.
      track.setPacketHandler((pkt) => {
        const p = slot.forward?.publisher;
        if (p && hasKeyframeRequest(pkt)) requestKeyframe(p, counters);
      });
    }
  }

  #startForward(conn: SubscriberConnection, slot: Slot, publisher: PeerSession): void {
    const out = slot.out;
    if (!out) return;
    if (slot.forward?.publisher === publisher) return;
    this.#stopForward(slot);
    if (out.rebase) out.rebase.pending = true;
    const s: Subscription = {
      id: `${conn.id}/${slot.index}`,
      publisher,
      subscriber: conn.peer,
      kinds: [slot.kind],
      attempt: 1,
      closed: false,
      ...(slot.kind === 'audio' ? { audio: out } : { video: out }),
    };
    slot.forward = s;
    publisher.subscribers.add(s);
    if (slot.kind === 'video') {
      // The answer is not applied by the subscriber yet: a keyframe sent now may arrive before it
      // knows the SSRC and be dropped. Ask now and twice more while the subscriber catches up.
      const counters = this.#ctx.counters;
      const ask = () => {
        if (slot.forward === s && !conn.closed) requestKeyframe(publisher, counters);
      };
      if (out.track.isOpen) ask();
      else out.track.once('open', ask);
      for (const ms of KEYFRAME_RETRY_MS) setTimeout(ask, ms).unref();
    }
  }

  #stopForward(slot: Slot): void {
    const s = slot.forward;
    if (!s) return;
    slot.forward = undefined;
    s.closed = true;
    s.publisher.subscribers.delete(s);
  }

  /** Sends the slots once the current burst of changes is over (joins come in bursts). */
  #scheduleUpdate(conn: SubscriberConnection): void {
    if (conn.updateScheduled) return;
    conn.updateScheduled = true;
    setImmediate(() => {
      conn.updateScheduled = false;
      if (conn.closed || conn.peer.subscriber !== conn) return;
      conn.version++;
      conn.peer.send({
        type: 'subscriberUpdate',
        connectionId: conn.id,
        version: conn.version,
        slots: conn.slots.map((s) => ({ kind: s.kind, peerId: s.publisher ? s.publisher.id : null })),
      });
    });
  }
}
