import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import { API_PREFIX } from '../http/app.js';
import type { RouteDeps } from '../http/deps.js';
import { ok, pageRequest, paged, timeRange } from '../http/envelope.js';
import { sessionOut, sessionPeerOut } from '../http/format.js';
import { S, pagingQuery, params } from '../http/schema.js';
import type { SessionPeerRow, SessionRow } from '../store/types.js';
import { getMeetingOr404 } from './meetings.js';

export function sessionRoutes(app: FastifyInstance, d: RouteDeps): void {
  const base = `${API_PREFIX}/:app_id/sessions`;
  const sessionParams = params.with({ session_id: S.uuid() });

  async function sessionOr404(appId: string, id: string): Promise<SessionRow> {
    const s = await d.repo.sessions.get(id);
    if (!s || s.app_id !== appId) throw new RtkError('NOT_FOUND', `Session ${id} not found`);
    return s;
  }

  app.get<{
    Params: { app_id: string };
    Querystring: {
      page_no?: number;
      per_page?: number;
      sort_by?: 'minutesConsumed' | 'createdAt';
      sort_order?: 'ASC' | 'DESC';
      start_time?: string;
      end_time?: string;
      participants?: string;
      status?: 'LIVE' | 'ENDED';
      search?: string;
      associated_id?: string;
    };
  }>(
    base,
    {
      schema: {
        params: params.app,
        querystring: S.obj({
          ...pagingQuery,
          sort_by: S.enum(['minutesConsumed', 'createdAt']),
          sort_order: S.enum(['ASC', 'DESC']),
          start_time: S.dateTime(),
          end_time: S.dateTime(),
          participants: S.str(),
          status: S.enum(['LIVE', 'ENDED']),
          search: S.str({ maxLength: 200 }),
          associated_id: S.uuid(),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      const page = pageRequest(q);
      const { rows, total } = await d.repo.sessions.list({
        where: {
          app_id: req.params.app_id,
          ...(q.status ? { status: q.status } : {}),
          ...(q.associated_id ? { meeting_id: q.associated_id } : {}),
        },
        ...(q.search
          ? { search: { fields: ['meeting_display_name', 'id', 'meeting_id'], text: q.search } }
          : {}),
        ...timeRange('started_at', q),
        orderBy: { field: 'created_at', dir: q.sort_order ?? 'DESC' },
        limit: page.perPage,
        offset: page.offset,
      });
      const out = paged(rows.map(sessionOut), total, page);
      return { success: true, data: { sessions: out.data }, paging: out.paging };
    },
  );

  app.get<{ Params: { app_id: string; session_id: string } }>(
    `${base}/:session_id`,
    { schema: { params: sessionParams, querystring: S.obj({ include_breakout_rooms: S.bool() }) } },
    async (req) => ok(sessionOut(await sessionOr404(req.params.app_id, req.params.session_id))),
  );

  app.get<{
    Params: { app_id: string; session_id: string };
    Querystring: { page_no?: number; per_page?: number; search?: string; sort_order?: 'ASC' | 'DESC' };
  }>(
    `${base}/:session_id/participants`,
    {
      schema: {
        params: sessionParams,
        querystring: S.obj({
          ...pagingQuery,
          search: S.str({ maxLength: 200 }),
          sort_order: S.enum(['ASC', 'DESC']),
          sort_by: S.enum(['joinedAt', 'duration']),
          include_peer_events: S.bool(),
          view: S.enum(['raw', 'consolidated']),
        }),
      },
    },
    async (req) => {
      const s = await sessionOr404(req.params.app_id, req.params.session_id);
      const page = pageRequest(req.query);
      const { rows, total } = await d.repo.sessionPeers.list({
        where: { session_id: s.id },
        ...(req.query.search
          ? {
              search: {
                fields: ['display_name', 'custom_participant_id', 'participant_id'],
                text: req.query.search,
              },
            }
          : {}),
        orderBy: { field: 'joined_at', dir: req.query.sort_order ?? 'ASC' },
        limit: page.perPage,
        offset: page.offset,
      });
      return {
        success: true,
        data: { participants: rows.map(sessionPeerOut) },
        paging: paged(rows, total, page).paging,
      };
    },
  );

  app.get<{ Params: { app_id: string; session_id: string; participant_id: string } }>(
    `${base}/:session_id/participants/:participant_id`,
    {
      schema: {
        params: params.with({ session_id: S.uuid(), participant_id: S.nonEmpty(255) }),
        querystring: S.obj({ include_peer_events: S.bool() }),
      },
    },
    async (req) => {
      const s = await sessionOr404(req.params.app_id, req.params.session_id);
      const id = req.params.participant_id;
      const byPeer = await d.repo.sessionPeers.get(id);
      const peer: SessionPeerRow | undefined =
        byPeer && byPeer.session_id === s.id
          ? byPeer
          : await d.repo.sessionPeers.findOne({ session_id: s.id, participant_id: id });
      if (!peer) throw new RtkError('NOT_FOUND', `Participant ${id} not found in session ${s.id}`);
      return ok({ participant: sessionPeerOut(peer) });
    },
  );

  app.get<{ Params: { app_id: string; peer_id: string } }>(
    `${base}/peer-report/:peer_id`,
    {
      schema: {
        params: params.with({ peer_id: S.nonEmpty(255) }),
        querystring: S.obj({ filters: S.str(), include_peer_events: S.bool() }),
      },
    },
    async (req) => {
      const peer = await d.repo.sessionPeers.get(req.params.peer_id);
      if (!peer || peer.app_id !== req.params.app_id)
        throw new RtkError('NOT_FOUND', `Peer ${req.params.peer_id} not found`);
      return ok({
        participant: { ...sessionPeerOut(peer), session_id: peer.session_id, meeting_id: peer.meeting_id },
      });
    },
  );

  // Active session of a meeting, and what the host can do to it.
  const meetingBase = `${API_PREFIX}/:app_id/meetings/:meeting_id/active-session`;
  const meetingParams = params.with({ meeting_id: S.uuid() });
  type MP = { app_id: string; meeting_id: string };

  async function live(p: MP): Promise<SessionRow> {
    await getMeetingOr404(d, p.app_id, p.meeting_id);
    return d.sessions.requireActiveSession(p.meeting_id);
  }
  /** The live session, when this server hosts it (kick and mute act on its media). */
  async function liveHere(p: MP): Promise<SessionRow> {
    const s = await live(p);
    await d.sessions.assertHostedHere(p.meeting_id);
    return s;
  }
  function media() {
    if (!d.media) throw new RtkError('NO_ACTIVE_SESSION', 'The media plane is not running');
    return d.media;
  }
  async function resolvePeers(
    session: SessionRow,
    body: { participant_ids?: string[]; custom_participant_ids?: string[] },
  ) {
    const { rows } = await d.repo.sessionPeers.list({ where: { session_id: session.id, left_at: null } });
    const ids = new Set(body.participant_ids ?? []);
    const custom = new Set(body.custom_participant_ids ?? []);
    return rows.filter(
      (p) => ids.has(p.participant_id) || ids.has(p.id) || custom.has(p.custom_participant_id),
    );
  }
  const selectBody = S.obj({
    participant_ids: S.arr(S.nonEmpty(255), { maxItems: 100 }),
    custom_participant_ids: S.arr(S.nonEmpty(255), { maxItems: 100 }),
  });
  const peerSummary = (p: SessionPeerRow) => ({
    id: p.participant_id,
    peer_id: p.id,
    custom_participant_id: p.custom_participant_id,
    name: p.display_name,
    created_at: p.created_at,
    updated_at: p.updated_at,
  });

  app.get<{ Params: MP }>(meetingBase, { schema: { params: meetingParams } }, async (req) =>
    ok(sessionOut(await live(req.params))),
  );

  // Kick and mute of chosen participants share everything but the media action.
  for (const [action, act] of [
    ['kick', (meetingId: string, peerIds: string[]) => media().kick(meetingId, peerIds)],
    ['mute', (meetingId: string, peerIds: string[]) => media().muteAudio(meetingId, peerIds)],
  ] as const) {
    app.post<{ Params: MP; Body: { participant_ids?: string[]; custom_participant_ids?: string[] } }>(
      `${meetingBase}/${action}`,
      { schema: { params: meetingParams, body: selectBody } },
      async (req) => {
        const s = await liveHere(req.params);
        const peers = await resolvePeers(s, req.body ?? {});
        if (peers.length === 0)
          throw new RtkError('NOT_FOUND', 'None of the given participants is in the active session');
        await act(
          s.meeting_id,
          peers.map((p) => p.id),
        );
        return ok({ action, participants: peers.map(peerSummary) });
      },
    );
  }

  app.post<{ Params: MP }>(`${meetingBase}/kick-all`, { schema: { params: meetingParams } }, async (req) => {
    const s = await liveHere(req.params);
    const kicked = await media().kick(s.meeting_id);
    return ok({ action: 'kick-all', kicked_participants_count: kicked.length });
  });

  app.post<{ Params: MP; Body: { allow_unmute: boolean } }>(
    `${meetingBase}/mute-all`,
    { schema: { params: meetingParams, body: S.obj({ allow_unmute: S.bool() }, ['allow_unmute']) } },
    async (req) => {
      const s = await liveHere(req.params);
      const muted = await media().muteAudio(s.meeting_id);
      return ok({
        action: 'mute-all',
        muted_participants_count: muted.length,
        allow_unmute: req.body.allow_unmute,
      });
    },
  );
}
