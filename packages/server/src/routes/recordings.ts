import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import { API_PREFIX } from '../http/app.js';
import type { RouteDeps } from '../http/deps.js';
import { ok, pageRequest, paged, timeRange } from '../http/envelope.js';
import { meetingOut } from '../http/format.js';
import { S, pagingQuery, params } from '../http/schema.js';
import type { StartTrackBody } from '../services/recording-service.js';
import type { AllowlistPatchBody } from '../services/recording-allowlist.js';
import type { RecordingRow, RecordingStatus } from '../store/types.js';

/**
 * RealtimeKit's storage_config on the start call. The schema only checks shapes; the service checks
 * the type (azure and sftp are refused by name), required fields and the endpoint. sftp's fields are
 * accepted here so that it gets that clear answer rather than "unknown property".
 */
const storageConfigSchema = S.nullable(
  S.obj(
    {
      type: S.str({ maxLength: 32 }),
      bucket: S.str({ maxLength: 255 }),
      region: S.str({ maxLength: 64 }),
      path: S.str({ maxLength: 512 }),
      access_key: S.str({ maxLength: 256 }),
      secret: S.str({ maxLength: 256 }),
      endpoint: S.str({ maxLength: 512 }),
      force_path_style: S.bool(),
      auth_method: S.str({ maxLength: 32 }),
      host: S.str({ maxLength: 255 }),
      port: S.num(0, 65535),
      username: S.str({ maxLength: 255 }),
      password: S.str({ maxLength: 1024 }),
      private_key: S.str({ maxLength: 16384 }),
    },
    ['type'],
    { additionalProperties: false },
  ),
);

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
      // Links are minted per request, so only deletion makes a recording expired: by DELETE or by
      // RECORDINGS_RETENTION_DAYS (documented in docs/api.md and docs/storage.md).
      const { rows, total } = await d.recordings.list({
        where: {
          app_id: req.params.app_id,
          ...(q.meeting_id ? { meeting_id: q.meeting_id } : {}),
          ...(q.expired === false ? { deleted_at: null } : {}),
        },
        ...(q.expired === true ? { notNull: ['deleted_at'] } : {}),
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
        await Promise.all(
          rows.map(async (r) => ({ ...(await d.recordings.toApi(r)), meeting: meetings.get(r.meeting_id) })),
        ),
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
            storage_config: storageConfigSchema,
          },
          ['meeting_id'],
        ),
      },
    },
    async (req) => {
      const { recording, userMatches } = await d.recordings.startTrack(req.params.app_id, req.body);
      return ok({
        recording: {
          ...(await d.recordings.toApi(recording)),
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
      return ok(await d.recordings.toApi(r));
    },
  );

  app.get<{ Params: { app_id: string; recording_id: string } }>(
    `${base}/:recording_id`,
    { schema: { params: params.with({ recording_id: S.uuid() }) } },
    async (req) =>
      ok(await d.recordings.toApi(await d.recordings.get(req.params.app_id, req.params.recording_id))),
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
        req.askedAtMs,
      );
      return ok(await d.recordings.toApi(rec));
    },
  );

  // Extension: live allowlist changes of a running track recording (docs/api.md).
  const userIdList = S.arr(S.nonEmpty(255), { maxItems: 100, uniqueItems: true });
  app.patch<{ Params: { app_id: string; recording_id: string }; Body: AllowlistPatchBody }>(
    `${base}/:recording_id`,
    {
      schema: {
        params: params.with({ recording_id: S.uuid() }),
        body: S.obj({ add_user_ids: userIdList, remove_user_ids: userIdList }, [], {
          additionalProperties: false,
        }),
      },
    },
    async (req) => {
      const rec = await d.recordings.updateAllowlist(
        req.params.app_id,
        req.params.recording_id,
        req.body,
        req.askedAtMs,
      );
      return ok(await d.recordings.toApi(rec));
    },
  );

  // Extension: deletes a stopped recording's objects and files and marks it deleted (docs/storage.md).
  app.delete<{ Params: { app_id: string; recording_id: string } }>(
    `${base}/:recording_id`,
    { schema: { params: params.with({ recording_id: S.uuid() }) } },
    async (req) => {
      const rec = await d.recordings.delete(req.params.app_id, req.params.recording_id);
      return ok(await d.recordings.toApi(rec));
    },
  );
}
