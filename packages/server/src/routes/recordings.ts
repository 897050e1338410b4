import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import { API_PREFIX } from '../http/app.js';
import type { RouteDeps } from '../http/deps.js';
import { ok, pageRequest, paged, timeRange } from '../http/envelope.js';
import { meetingOut } from '../http/format.js';
import { S, pagingQuery, params } from '../http/schema.js';
import type { StartTrackBody } from '../services/recording-service.js';
import type { RecordingRow, RecordingStatus } from '../store/types.js';

const STATUSES = ['INVOKED', 'RECORDING', 'UPLOADING', 'UPLOADED', 'ERRORED', 'PAUSED'] as const;

interface ListQ {
  meeting_id?: string;
  page_no?: number;
  per_page?: number;
  expired?: boolean;
  search?: string;
  sort_by?: 'invokedTime';
  sort_order?: 'ASC' | 'DESC';
  start_time?: string;
  end_time?: string;
  status?: RecordingStatus[];
}

export function recordingRoutes(app: FastifyInstance, d: RouteDeps): void {
  const base = `${API_PREFIX}/:app_id/recordings`;

  app.get<{ Params: { app_id: string }; Querystring: ListQ }>(
    base,
    {
      schema: {
        params: params.app,
        querystring: S.obj({
          ...pagingQuery,
          meeting_id: S.uuid(),
          expired: S.bool(),
          search: S.str({ maxLength: 200 }),
          sort_by: S.enum(['invokedTime']),
          sort_order: S.enum(['ASC', 'DESC']),
          start_time: S.dateTime(),
          end_time: S.dateTime(),
          status: S.arr(S.enum(STATUSES), { maxItems: 6 }),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      const page = pageRequest(q);
      const range = timeRange('invoked_time', q);
      // Links are minted per request, so a stored recording's links never "expire": expired=true
      // matches nothing and expired=false matches everything (documented in docs/api.md).
      if (q.expired === true) return paged([], 0, page);
      const { rows, total } = await d.recordings.list({
        where: { app_id: req.params.app_id, ...(q.meeting_id ? { meeting_id: q.meeting_id } : {}) },
        ...(q.status?.length ? { whereIn: { field: 'status', values: q.status } } : {}),
        ...(q.search ? { search: { fields: ['id', 'meeting_id', 'output_file_name'], text: q.search } } : {}),
        ...range,
        orderBy: { field: 'invoked_time', dir: q.sort_order ?? 'DESC' },
        limit: page.perPage,
        offset: page.offset,
      });
      const meetings = new Map<string, unknown>();
      for (const r of rows) {
        if (!meetings.has(r.meeting_id)) {
          const m = await d.repo.meetings.get(r.meeting_id);
          meetings.set(r.meeting_id, m ? meetingOut(m) : null);
        }
      }
      return paged(
        rows.map((r) => ({ ...d.recordings.toApi(r), meeting: meetings.get(r.meeting_id) })),
        total,
        page,
      );
    },
  );

  app.post(`${base}`, { schema: { params: params.app } }, async () => {
    throw new RtkError(
      'NOT_IMPLEMENTED',
      'Composite recording is not supported by this server; use POST .../recordings/track for per-participant audio',
    );
  });

  app.post<{ Params: { app_id: string }; Body: StartTrackBody }>(
    `${base}/track`,
    {
      schema: {
        params: params.app,
        body: S.obj(
          {
            meeting_id: S.uuid(),
            user_ids: S.arr(S.nonEmpty(255), { maxItems: 100, minItems: 1 }),
            layers: {
              type: 'object',
              minProperties: 1,
              maxProperties: 10,
              propertyNames: { pattern: '^[-\\w]{1,64}$' },
              additionalProperties: S.obj(
                { file_name_prefix: S.str({ pattern: '^[-\\w\\s]{1,100}$' }), media_kind: S.enum(['audio']) },
                [],
                { additionalProperties: false },
              ),
            },
            group_by: S.enum(['peer', 'user']),
            align: S.enum(['recording_start', 'first_packet']),
            max_seconds: S.int(1, 7 * 24 * 3600),
          },
          ['meeting_id'],
        ),
      },
    },
    async (req) => {
      const { recording, userMatches } = await d.recordings.startTrack(req.params.app_id, req.body);
      return ok({
        recording: {
          ...d.recordings.toApi(recording),
          ...(userMatches ? { user_matches: userMatches } : {}),
        },
      });
    },
  );

  app.get<{ Params: { app_id: string; meeting_id: string } }>(
    `${base}/active-recording/:meeting_id`,
    { schema: { params: params.with({ meeting_id: S.uuid() }) } },
    async (req) => {
      const m = await d.repo.meetings.get(req.params.meeting_id);
      if (!m || m.app_id !== req.params.app_id)
        throw new RtkError('NOT_FOUND', `Meeting ${req.params.meeting_id} not found`);
      const r = await d.recordings.activeFor(m.id);
      if (!r) throw new RtkError('NOT_FOUND', `Meeting ${m.id} has no active recording`);
      return ok(d.recordings.toApi(r));
    },
  );

  app.get<{ Params: { app_id: string; recording_id: string } }>(
    `${base}/:recording_id`,
    { schema: { params: params.with({ recording_id: S.uuid() }) } },
    async (req) => ok(d.recordings.toApi(await d.recordings.get(req.params.app_id, req.params.recording_id))),
  );

  app.put<{
    Params: { app_id: string; recording_id: string };
    Body: { action: 'stop' | 'pause' | 'resume' };
  }>(
    `${base}/:recording_id`,
    {
      schema: {
        params: params.with({ recording_id: S.uuid() }),
        body: S.obj({ action: S.enum(['stop', 'pause', 'resume']) }, ['action']),
      },
    },
    async (req) => {
      const rec: RecordingRow = await d.recordings.action(
        req.params.app_id,
        req.params.recording_id,
        req.body.action,
      );
      return ok(d.recordings.toApi(rec));
    },
  );
}
