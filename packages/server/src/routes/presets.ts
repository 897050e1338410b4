import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import { API_PREFIX } from '../http/app.js';
import type { RouteDeps } from '../http/deps.js';
import { ok, pageRequest, paged } from '../http/envelope.js';
import { presetListItem, presetOut } from '../http/format.js';
import { S, pagingQuery, params } from '../http/schema.js';
import { newId, nowIso } from '../services/clock.js';
import type { PresetRow } from '../store/types.js';

interface Body {
  name?: string;
  config?: Record<string, unknown>;
  permissions?: Record<string, unknown>;
  ui?: Record<string, unknown>;
}
const NAME_RE = '^[-\\w .]{1,255}$';
const fields = {
  name: S.str({ pattern: NAME_RE }),
  config: S.anyObj(),
  permissions: S.anyObj(),
  ui: S.anyObj(),
};

export function presetRoutes(app: FastifyInstance, d: RouteDeps): void {
  const base = `${API_PREFIX}/:app_id/presets`;
  const oneParams = params.with({ preset_id: S.uuid() });

  async function getOr404(appId: string, id: string): Promise<PresetRow> {
    const p = await d.repo.presets.get(id);
    if (!p || p.app_id !== appId) throw new RtkError('NOT_FOUND', `Preset ${id} not found`);
    return p;
  }
  async function assertNameFree(appId: string, name: string, exceptId?: string): Promise<void> {
    const other = await d.repo.presets.findOne({ app_id: appId, name });
    if (other && other.id !== exceptId)
      throw new RtkError('CONFLICT', `A preset named "${name}" already exists`);
  }

  app.get<{
    Params: { app_id: string };
    Querystring: { page_no?: number; per_page?: number; search?: string };
  }>(
    base,
    {
      schema: {
        params: params.app,
        querystring: S.obj({ ...pagingQuery, search: S.str({ maxLength: 200 }) }),
      },
    },
    async (req) => {
      const page = pageRequest(req.query);
      const { rows, total } = await d.repo.presets.list({
        where: { app_id: req.params.app_id },
        ...(req.query.search ? { search: { fields: ['name'], text: req.query.search } } : {}),
        orderBy: { field: 'created_at', dir: 'ASC' },
        limit: page.perPage,
        offset: page.offset,
      });
      return paged(rows.map(presetListItem), total, page);
    },
  );

  app.post<{ Params: { app_id: string }; Body: Body }>(
    base,
    { schema: { params: params.app, body: S.obj(fields, ['name', 'config', 'ui']) } },
    async (req, reply) => {
      const b = req.body;
      await assertNameFree(req.params.app_id, b.name as string);
      const now = nowIso();
      const row: PresetRow = {
        id: newId(),
        app_id: req.params.app_id,
        name: b.name as string,
        config: b.config ?? {},
        permissions: b.permissions ?? {},
        ui: b.ui ?? {},
        created_at: now,
        updated_at: now,
      };
      await d.repo.presets.insert(row);
      return reply.status(201).send(ok(presetOut(row)));
    },
  );

  app.get<{ Params: { app_id: string; preset_id: string } }>(
    `${base}/:preset_id`,
    { schema: { params: oneParams } },
    async (req) => ok(presetOut(await getOr404(req.params.app_id, req.params.preset_id))),
  );

  const edit =
    (replace: boolean) =>
    async (req: { params: { app_id: string; preset_id: string }; body: Body | undefined }) => {
      const cur = await getOr404(req.params.app_id, req.params.preset_id);
      const b = req.body ?? {};
      if (b.name !== undefined) await assertNameFree(cur.app_id, b.name, cur.id);
      const patch: Partial<PresetRow> = replace
        ? { name: b.name as string, config: b.config ?? {}, permissions: b.permissions ?? {}, ui: b.ui ?? {} }
        : (Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)) as Partial<PresetRow>);
      const now = nowIso();
      const next = await d.repo.transaction(async () => {
        const updated = await d.repo.presets.update(cur.id, { ...patch, updated_at: now });
        // Participants name their preset: a rename carries them along, so none is left orphaned.
        if (updated && updated.name !== cur.name) {
          const { rows } = await d.repo.participants.list({
            where: { app_id: cur.app_id, preset_name: cur.name },
          });
          for (const p of rows)
            await d.repo.participants.update(p.id, { preset_name: updated.name, updated_at: now });
        }
        return updated;
      });
      if (!next) throw new RtkError('NOT_FOUND', `Preset ${cur.id} not found`);
      return ok(presetOut(next));
    };
  app.patch<{ Params: { app_id: string; preset_id: string }; Body: Body | undefined }>(
    `${base}/:preset_id`,
    { schema: { params: oneParams, body: S.obj(fields) } },
    edit(false),
  );
  app.put<{ Params: { app_id: string; preset_id: string }; Body: Body }>(
    `${base}/:preset_id`,
    { schema: { params: oneParams, body: S.obj(fields, ['name', 'config', 'ui']) } },
    edit(true),
  );

  app.delete<{ Params: { app_id: string; preset_id: string } }>(
    `${base}/:preset_id`,
    { schema: { params: oneParams } },
    async (req) => {
      const cur = await getOr404(req.params.app_id, req.params.preset_id);
      const inUse = await d.repo.participants.findOne({ app_id: cur.app_id, preset_name: cur.name });
      if (inUse) throw new RtkError('CONFLICT', `Preset "${cur.name}" is used by participant ${inUse.id}`);
      await d.repo.presets.delete(cur.id);
      return ok(presetOut(cur));
    },
  );
}
