import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import { API_PREFIX } from '../http/app.js';
import type { RouteDeps } from '../http/deps.js';
import { ok, pageRequest, paged, timeRange } from '../http/envelope.js';
import { meetingOut } from '../http/format.js';
import { S, pagingQuery, params } from '../http/schema.js';
import { newId, nowIso } from '../services/clock.js';
import { sealRecordingConfig } from '../storage/storage-config.js';
import type { MeetingRow } from '../store/types.js';

// title, record_on_start and live_stream_on_start are nullable in the contract: null means "none"
// (no title) or the default (false).
const meetingFields = {
  title: S.nullable(S.str({ maxLength: 1024 })),
  record_on_start: S.nullable(S.bool()),
  live_stream_on_start: S.nullable(S.bool()),
  persist_chat: S.bool(),
  summarize_on_end: S.bool(),
  transcribe_on_end: S.bool(),
  session_keep_alive_time_in_secs: S.num(0, 600),
  recording_config: S.anyObj(),
  ai_config: S.anyObj(),
};
const updateFields = { ...meetingFields, status: S.enum(['ACTIVE', 'INACTIVE']) };

type MeetingBody = Partial<Omit<MeetingRow, 'id' | 'app_id' | 'created_at' | 'updated_at'>>;

export async function getMeetingOr404(d: RouteDeps, appId: string, meetingId: string): Promise<MeetingRow> {
  const m = await d.repo.meetings.get(meetingId);
  if (!m || m.app_id !== appId) throw new RtkError('NOT_FOUND', `Meeting ${meetingId} not found`);
  return m;
}

export function meetingRoutes(app: FastifyInstance, d: RouteDeps): void {
  const meetingParams = params.with({ meeting_id: S.uuid() });

  app.get<{
    Params: { app_id: string };
    Querystring: {
      page_no?: number;
      per_page?: number;
      search?: string;
      status?: 'ACTIVE' | 'INACTIVE';
      start_time?: string;
      end_time?: string;
    };
  }>(
    `${API_PREFIX}/:app_id/meetings`,
    {
      schema: {
        params: params.app,
        querystring: S.obj({
          ...pagingQuery,
          search: S.str({ maxLength: 200 }),
          status: S.enum(['ACTIVE', 'INACTIVE']),
          start_time: S.dateTime(),
          end_time: S.dateTime(),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      const page = pageRequest(q);
      const range = timeRange('created_at', q);
      const { rows, total } = await d.repo.meetings.list({
        where: { app_id: req.params.app_id, ...(q.status ? { status: q.status } : {}) },
        ...(q.search ? { search: { fields: ['title', 'id'], text: q.search } } : {}),
        ...range,
        orderBy: { field: 'created_at', dir: 'DESC' },
        limit: page.perPage,
        offset: page.offset,
      });
      return paged(rows.map(meetingOut), total, page);
    },
  );

  app.post<{ Params: { app_id: string }; Body: MeetingBody | undefined }>(
    `${API_PREFIX}/:app_id/meetings`,
    { schema: { params: params.app, body: S.obj(meetingFields) } },
    async (req, reply) => {
      const b = req.body ?? {};
      const now = nowIso();
      const row: MeetingRow = {
        id: newId(),
        app_id: req.params.app_id,
        title: b.title ?? null,
        status: 'ACTIVE',
        record_on_start: b.record_on_start ?? false,
        live_stream_on_start: b.live_stream_on_start ?? false,
        persist_chat: b.persist_chat ?? false,
        summarize_on_end: b.summarize_on_end ?? false,
        transcribe_on_end: b.transcribe_on_end ?? false,
        session_keep_alive_time_in_secs: b.session_keep_alive_time_in_secs ?? 60,
        // storage_config keys are sealed before they are stored, and never shown (meetingOut).
        recording_config: sealRecordingConfig(b.recording_config, d.secrets, d.outbound) ?? null,
        ai_config: b.ai_config ?? null,
        created_at: now,
        updated_at: now,
      };
      await d.repo.meetings.insert(row);
      return reply.status(201).send(ok(meetingOut(row)));
    },
  );

  app.get<{ Params: { app_id: string; meeting_id: string } }>(
    `${API_PREFIX}/:app_id/meetings/:meeting_id`,
    { schema: { params: meetingParams, querystring: S.obj({ name: S.str() }) } },
    async (req) => ok(meetingOut(await getMeetingOr404(d, req.params.app_id, req.params.meeting_id))),
  );

  const update =
    (replace: boolean) =>
    async (req: { params: { app_id: string; meeting_id: string }; body: MeetingBody | undefined }) => {
      const current = await getMeetingOr404(d, req.params.app_id, req.params.meeting_id);
      const b = req.body ?? {};
      const patch: Partial<MeetingRow> = replace
        ? {
            title: b.title ?? null,
            status: b.status ?? 'ACTIVE',
            record_on_start: b.record_on_start ?? false,
            live_stream_on_start: b.live_stream_on_start ?? false,
            persist_chat: b.persist_chat ?? false,
            summarize_on_end: b.summarize_on_end ?? false,
            transcribe_on_end: b.transcribe_on_end ?? false,
            session_keep_alive_time_in_secs: b.session_keep_alive_time_in_secs ?? 60,
            recording_config: sealRecordingConfig(b.recording_config, d.secrets, d.outbound) ?? null,
            ai_config: b.ai_config ?? null,
          }
        : (Object.fromEntries(
            Object.entries(b)
              .filter(([, v]) => v !== undefined)
              .map(([k, v]) => [k, v === null && k !== 'title' ? false : v]),
          ) as Partial<MeetingRow>);
      if (!replace && patch.recording_config && typeof patch.recording_config === 'object') {
        patch.recording_config = sealRecordingConfig(patch.recording_config, d.secrets) ?? null;
      }
      const next = await d.repo.meetings.update(current.id, { ...patch, updated_at: nowIso() });
      if (!next) throw new RtkError('NOT_FOUND', `Meeting ${current.id} not found`);
      return ok(meetingOut(next));
    };

  app.put<{ Params: { app_id: string; meeting_id: string }; Body: MeetingBody | undefined }>(
    `${API_PREFIX}/:app_id/meetings/:meeting_id`,
    { schema: { params: meetingParams, body: S.obj(updateFields) } },
    update(true),
  );
  app.patch<{ Params: { app_id: string; meeting_id: string }; Body: MeetingBody | undefined }>(
    `${API_PREFIX}/:app_id/meetings/:meeting_id`,
    { schema: { params: meetingParams, body: S.obj(updateFields) } },
    update(false),
  );
}
