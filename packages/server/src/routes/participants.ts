import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import { API_PREFIX } from '../http/app.js';
import type { RouteDeps } from '../http/deps.js';
import { ok, pageRequest, paged } from '../http/envelope.js';
import { participantOut } from '../http/format.js';
import { S, pagingQuery, params } from '../http/schema.js';
import { newId, nowIso } from '../services/clock.js';
import { DuplicateKeyError } from '../store/repository.js';
import type { ParticipantRow } from '../store/types.js';
import { getMeetingOr404 } from './meetings.js';

interface P {
  app_id: string;
  meeting_id: string;
  participant_id: string;
}
interface Body {
  custom_participant_id?: string;
  preset_name?: string | null;
  name?: string | null;
  picture?: string | null;
}

// name and picture are nullable in the contract (null clears them).
const fields = {
  name: S.nullable(S.str({ maxLength: 255 })),
  picture: S.nullable(S.uri()),
  preset_name: S.nonEmpty(255),
};
// Edit: preset_name is nullable too; null leaves the preset as it is.
const editFields = { ...fields, preset_name: S.nullable(S.nonEmpty(255)) };

async function requirePreset(d: RouteDeps, appId: string, name: string): Promise<void> {
  const preset = await d.repo.presets.findOne({ app_id: appId, name });
  if (!preset)
    throw new RtkError('VALIDATION_FAILED', `body.preset_name: no preset named "${name}" in this app`);
}

export function participantRoutes(app: FastifyInstance, d: RouteDeps): void {
  const base = `${API_PREFIX}/:app_id/meetings/:meeting_id/participants`;
  const listParams = params.with({ meeting_id: S.uuid() });
  const oneParams = params.with({ meeting_id: S.uuid(), participant_id: S.uuid() });

  async function getOr404(p: P): Promise<ParticipantRow> {
    await getMeetingOr404(d, p.app_id, p.meeting_id);
    const row = await d.repo.participants.get(p.participant_id);
    if (!row || row.meeting_id !== p.meeting_id) {
      throw new RtkError('NOT_FOUND', `Participant ${p.participant_id} not found in meeting ${p.meeting_id}`);
    }
    return row;
  }

  app.post<{ Params: Omit<P, 'participant_id'>; Body: Body }>(
    base,
    {
      schema: {
        params: listParams,
        body: S.obj({ ...fields, custom_participant_id: S.nonEmpty(255) }, [
          'custom_participant_id',
          'preset_name',
        ]),
      },
    },
    async (req, reply) => {
      const { app_id, meeting_id } = req.params;
      await getMeetingOr404(d, app_id, meeting_id);
      const b = req.body;
      await requirePreset(d, app_id, b.preset_name as string);
      const existing = await d.repo.participants.findOne({
        meeting_id,
        custom_participant_id: b.custom_participant_id,
      });
      const duplicate = (id?: string) =>
        new RtkError(
          'CONFLICT',
          `A participant with custom_participant_id "${b.custom_participant_id}" already exists in this meeting${id ? ` (id ${id})` : ''}`,
        );
      if (existing) throw duplicate(existing.id);
      const now = nowIso();
      const row: ParticipantRow = {
        id: newId(),
        app_id,
        meeting_id,
        custom_participant_id: b.custom_participant_id as string,
        preset_name: b.preset_name as string,
        name: b.name ?? null,
        picture: b.picture ?? null,
        created_at: now,
        updated_at: now,
      };
      try {
        await d.repo.participants.insert(row);
      } catch (err) {
        // Two adds of the same custom_participant_id at once: the store's unique index decides.
        if (err instanceof DuplicateKeyError) throw duplicate();
        throw err;
      }
      return reply
        .status(201)
        .send(ok(participantOut(row, await d.tokens.issue(app_id, meeting_id, row.id))));
    },
  );

  app.get<{ Params: Omit<P, 'participant_id'>; Querystring: { page_no?: number; per_page?: number } }>(
    base,
    { schema: { params: listParams, querystring: S.obj(pagingQuery) } },
    async (req) => {
      await getMeetingOr404(d, req.params.app_id, req.params.meeting_id);
      const page = pageRequest(req.query);
      const { rows, total } = await d.repo.participants.list({
        where: { meeting_id: req.params.meeting_id },
        orderBy: { field: 'created_at', dir: 'ASC' },
        limit: page.perPage,
        offset: page.offset,
      });
      return paged(
        rows.map((r) => participantOut(r)),
        total,
        page,
      );
    },
  );

  app.get<{ Params: P }>(`${base}/:participant_id`, { schema: { params: oneParams } }, async (req) =>
    ok(participantOut(await getOr404(req.params))),
  );

  const edit = (replace: boolean) => async (req: { params: P; body: Body | undefined }) => {
    const row = await getOr404(req.params);
    const b = req.body ?? {};
    if (b.preset_name !== undefined && b.preset_name !== null)
      await requirePreset(d, req.params.app_id, b.preset_name);
    const patch: Partial<ParticipantRow> = replace
      ? { name: b.name ?? null, picture: b.picture ?? null, preset_name: b.preset_name as string }
      : {
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(b.picture !== undefined ? { picture: b.picture } : {}),
          ...(b.preset_name !== undefined && b.preset_name !== null ? { preset_name: b.preset_name } : {}),
        };
    const next = await d.repo.participants.update(row.id, { ...patch, updated_at: nowIso() });
    if (!next) throw new RtkError('NOT_FOUND', `Participant ${row.id} not found`);
    return ok(participantOut(next));
  };
  app.patch<{ Params: P; Body: Body | undefined }>(
    `${base}/:participant_id`,
    { schema: { params: oneParams, body: S.obj(editFields) } },
    edit(false),
  );
  app.put<{ Params: P; Body: Body }>(
    `${base}/:participant_id`,
    { schema: { params: oneParams, body: S.obj(fields, ['preset_name']) } },
    edit(true),
  );

  app.delete<{ Params: P }>(`${base}/:participant_id`, { schema: { params: oneParams } }, async (req) => {
    const row = await getOr404(req.params);
    const preset = await d.repo.presets.findOne({ app_id: req.params.app_id, name: row.preset_name });
    await d.repo.participants.delete(row.id);
    return ok({
      custom_participant_id: row.custom_participant_id,
      preset_id: preset?.id ?? '',
      created_at: row.created_at,
      updated_at: row.updated_at,
    });
  });

  app.post<{ Params: P }>(`${base}/:participant_id/token`, { schema: { params: oneParams } }, async (req) => {
    const row = await getOr404(req.params);
    return ok({ token: await d.tokens.issue(row.app_id, row.meeting_id, row.id) });
  });
}
