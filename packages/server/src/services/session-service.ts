import { type Logger, RtkError, TypedEmitter } from '@trackroom/protocol';
import type { Repository } from '../store/repository.js';
import type { MeetingRow, SessionPeerRow, SessionRow } from '../store/types.js';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';
import { newId, nowIso } from './clock.js';

export interface PeerJoin {
  meetingId: string;
  peerId: string;
  participantId: string;
  customParticipantId: string;
  name: string;
  presetName: string;
  joinedAt: Date;
}
export interface PeerLeave {
  meetingId: string;
  peerId: string;
  leftAt: Date;
}

export interface SessionServiceEvents {
  [k: string]: unknown;
  sessionStarted: { session: SessionRow };
  sessionEnded: { session: SessionRow };
}

export interface SessionServiceOptions {
  repo: Repository;
  /** This server among those sharing the store (default `local`), and its public URL. */
  nodeId?: string;
  publicUrl?: () => string;
  webhooks: WebhookDispatcher;
  logger: Logger;
}

/**
 * Sessions of meetings: the first peer to join starts one (meeting.started), the last to leave ends
 * it after the meeting's session_keep_alive_time_in_secs (meeting.ended). Fed by the media plane.
 */
export class SessionService extends TypedEmitter<SessionServiceEvents> {
  readonly #o: SessionServiceOptions;
  readonly #endTimers = new Map<string, NodeJS.Timeout>();
  /** Serialises updates per meeting so joins and leaves never interleave. */
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(options: SessionServiceOptions) {
    super();
    this.#o = options;
  }

  #serial<R>(meetingId: string, fn: () => Promise<R>): Promise<R> {
    const prev = this.#chains.get(meetingId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.#chains.set(meetingId, tail);
    void tail.then(() => {
      if (this.#chains.get(meetingId) === tail) this.#chains.delete(meetingId);
    });
    return next;
  }

  /** Ends sessions left LIVE by a previous process: their peers are gone with it. */
  async recoverAfterRestart(): Promise<number> {
    const { rows: live } = await this.#o.repo.sessions.list({ where: { status: 'LIVE' } });
    // Only this node's: another server's live meetings go on.
    const rows = live.filter((s) => this.#mine(s));
    const now = nowIso();
    for (const s of rows) {
      const peers = await this.#o.repo.sessionPeers.list({ where: { session_id: s.id, left_at: null } });
      for (const p of peers.rows)
        await this.#o.repo.sessionPeers.update(p.id, { left_at: now, updated_at: now });
      const ended = await this.#o.repo.sessions.update(s.id, {
        status: 'ENDED',
        ended_at: now,
        live_participants: 0,
        updated_at: now,
      });
      if (ended) await this.#notifyEnded(ended, 'SERVER_RESTARTED');
    }
    return rows.length;
  }

  /**
   * Ends the live sessions a node hosted (declared dead by the cluster, or this node leaving it):
   * each present peer leaves (meeting.participantLeft), then the session ends (meeting.ended with
   * `reason`). Returns how many sessions ended.
   */
  async endSessionsOfNode(nodeId: string, reason: string): Promise<number> {
    const { rows: live } = await this.#o.repo.sessions.list({ where: { status: 'LIVE' } });
    const rows = live.filter((s) => (s.node_id ?? 'local') === nodeId);
    let ended = 0;
    for (const s of rows) {
      await this.#serial(s.meeting_id, async () => {
        const current = await this.#o.repo.sessions.get(s.id);
        if (!current || current.status !== 'LIVE') return;
        const meeting = await this.#o.repo.meetings.get(s.meeting_id);
        const now = nowIso();
        const peers = await this.#o.repo.sessionPeers.list({ where: { session_id: s.id, left_at: null } });
        for (const p of peers.rows) {
          const left = await this.#o.repo.sessionPeers.update(p.id, { left_at: now, updated_at: now });
          if (left && meeting)
            await this.#o.webhooks.enqueue(meeting.app_id, 'meeting.participantLeft', {
              meeting: meetingPayload(meeting, { ...current, live_participants: 0 }),
              participant: participantPayload(left),
            });
        }
        const done = await this.#o.repo.sessions.update(s.id, {
          status: 'ENDED',
          ended_at: now,
          live_participants: 0,
          updated_at: now,
        });
        if (done) {
          ended++;
          await this.#notifyEnded(done, reason);
        }
      });
    }
    return ended;
  }

  async activeSession(meetingId: string): Promise<SessionRow | undefined> {
    return this.#o.repo.sessions.findOne({ meeting_id: meetingId, status: 'LIVE' });
  }

  #mine(row: { node_id?: string }): boolean {
    return row.node_id === undefined || row.node_id === (this.#o.nodeId ?? 'local');
  }

  /**
   * Refuses a join when the meeting's live session is hosted by another server (409
   * HOSTED_ELSEWHERE, naming that server's URL so the client can go there).
   */
  async assertHostedHere(meetingId: string): Promise<void> {
    const s = await this.activeSession(meetingId);
    if (s) this.assertSessionHostedHere(s);
  }

  /** `assertHostedHere` for a live session already read. */
  assertSessionHostedHere(s: SessionRow): void {
    if (!this.#mine(s)) {
      const meetingId = s.meeting_id;
      throw new RtkError(
        'HOSTED_ELSEWHERE',
        `Meeting ${meetingId} is live on another server (${s.node_id})${s.node_url ? `: join at ${s.node_url}` : ''}`,
        { node_id: s.node_id, ...(s.node_url ? { node_url: s.node_url } : {}) },
      );
    }
  }

  async requireActiveSession(meetingId: string): Promise<SessionRow> {
    const s = await this.activeSession(meetingId);
    if (!s) throw new RtkError('NO_ACTIVE_SESSION', `Meeting ${meetingId} has no active session`);
    return s;
  }

  peerJoined(j: PeerJoin): Promise<SessionPeerRow> {
    return this.#serial(j.meetingId, async () => {
      const meeting = await this.#o.repo.meetings.get(j.meetingId);
      if (!meeting) throw new RtkError('NOT_FOUND', `Meeting ${j.meetingId} not found`);
      const timer = this.#endTimers.get(j.meetingId);
      if (timer) {
        clearTimeout(timer);
        this.#endTimers.delete(j.meetingId);
      }
      let session = await this.activeSession(j.meetingId);
      const now = nowIso();
      let started = false;
      if (!session) {
        session = {
          id: newId(),
          app_id: meeting.app_id,
          meeting_id: meeting.id,
          status: 'LIVE',
          meeting_display_name: meeting.title ?? '',
          started_at: j.joinedAt.toISOString(),
          ended_at: null,
          live_participants: 0,
          max_concurrent_participants: 0,
          node_id: this.#o.nodeId ?? 'local',
          ...(this.#o.publicUrl ? { node_url: this.#o.publicUrl() } : {}),
          created_at: now,
          updated_at: now,
        };
        await this.#o.repo.sessions.insert(session);
        started = true;
      }
      const live = session.live_participants + 1;
      session =
        (await this.#o.repo.sessions.update(session.id, {
          live_participants: live,
          max_concurrent_participants: Math.max(live, session.max_concurrent_participants),
          updated_at: now,
        })) ?? session;
      const peer: SessionPeerRow = {
        id: j.peerId,
        app_id: meeting.app_id,
        session_id: session.id,
        meeting_id: meeting.id,
        participant_id: j.participantId,
        custom_participant_id: j.customParticipantId,
        display_name: j.name,
        preset_name: j.presetName,
        joined_at: j.joinedAt.toISOString(),
        left_at: null,
        created_at: now,
        updated_at: now,
      };
      await this.#o.repo.sessionPeers.insert(peer);
      if (started) {
        this.#o.logger.info({ meetingId: meeting.id, sessionId: session.id }, 'session started');
        await this.#o.webhooks.enqueue(meeting.app_id, 'meeting.started', {
          meeting: meetingPayload(meeting, session),
        });
        this.emit('sessionStarted', { session });
      }
      await this.#o.webhooks.enqueue(meeting.app_id, 'meeting.participantJoined', {
        meeting: meetingPayload(meeting, session),
        participant: participantPayload(peer),
      });
      return peer;
    });
  }

  peerLeft(l: PeerLeave): Promise<void> {
    return this.#serial(l.meetingId, async () => {
      const peer = await this.#o.repo.sessionPeers.get(l.peerId);
      if (!peer || peer.left_at) return;
      const now = nowIso();
      const left = await this.#o.repo.sessionPeers.update(peer.id, {
        left_at: l.leftAt.toISOString(),
        updated_at: now,
      });
      const session = await this.#o.repo.sessions.get(peer.session_id);
      const meeting = await this.#o.repo.meetings.get(peer.meeting_id);
      if (!session || !meeting || !left) return;
      const live = Math.max(0, session.live_participants - 1);
      const updated =
        (await this.#o.repo.sessions.update(session.id, { live_participants: live, updated_at: now })) ??
        session;
      await this.#o.webhooks.enqueue(meeting.app_id, 'meeting.participantLeft', {
        meeting: meetingPayload(meeting, updated),
        participant: participantPayload(left),
      });
      if (live === 0 && updated.status === 'LIVE') this.#scheduleEnd(meeting, updated.id);
    });
  }

  #scheduleEnd(meeting: MeetingRow, sessionId: string): void {
    const delayMs = Math.max(0, meeting.session_keep_alive_time_in_secs) * 1000;
    const timer = setTimeout(() => {
      this.#endTimers.delete(meeting.id);
      void this.#serial(meeting.id, async () => {
        const s = await this.#o.repo.sessions.get(sessionId);
        if (!s || s.status !== 'LIVE' || s.live_participants > 0) return;
        const now = nowIso();
        const ended = await this.#o.repo.sessions.update(s.id, {
          status: 'ENDED',
          ended_at: now,
          updated_at: now,
        });
        if (ended) await this.#notifyEnded(ended, 'ALL_PARTICIPANTS_LEFT');
      }).catch((err: unknown) =>
        this.#o.logger.error({ err, meetingId: meeting.id }, 'ending session failed'),
      );
    }, delayMs);
    timer.unref();
    this.#endTimers.set(meeting.id, timer);
  }

  async #notifyEnded(session: SessionRow, reason: string): Promise<void> {
    this.#o.logger.info({ meetingId: session.meeting_id, sessionId: session.id, reason }, 'session ended');
    const meeting = await this.#o.repo.meetings.get(session.meeting_id);
    if (meeting) {
      await this.#o.webhooks.enqueue(session.app_id, 'meeting.ended', {
        meeting: meetingPayload(meeting, session),
        reason,
      });
    }
    this.emit('sessionEnded', { session });
  }

  /** Meetings waiting for their session to end, and meetings with updates in progress. */
  stats(): { pendingEnds: number; busyMeetings: number } {
    return { pendingEnds: this.#endTimers.size, busyMeetings: this.#chains.size };
  }

  close(): void {
    for (const t of this.#endTimers.values()) clearTimeout(t);
    this.#endTimers.clear();
  }
}

/** camelCase shapes of RealtimeKit's webhook payloads. */
export function meetingPayload(m: MeetingRow, s: SessionRow) {
  return {
    id: m.id,
    sessionId: s.id,
    title: m.title ?? '',
    status: s.status,
    createdAt: m.created_at,
    startedAt: s.started_at,
    ...(s.ended_at ? { endedAt: s.ended_at } : {}),
  };
}

export function participantPayload(p: SessionPeerRow) {
  return {
    peerId: p.id,
    userId: p.participant_id,
    customParticipantId: p.custom_participant_id,
    displayName: p.display_name,
    presetName: p.preset_name,
    joinedAt: p.joined_at,
    ...(p.left_at
      ? { leftAt: p.left_at, duration: Math.round((Date.parse(p.left_at) - Date.parse(p.joined_at)) / 1000) }
      : {}),
  };
}
