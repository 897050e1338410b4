import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import { API_PREFIX } from '../http/app.js';
import type { RouteDeps } from '../http/deps.js';
import { ok, pageRequest, paged } from '../http/envelope.js';
import { S, pagingQuery } from '../http/schema.js';
import { appOut, createApp } from '../services/apps.js';

export function appRoutes(app: FastifyInstance, d: RouteDeps): void {
  app.get<{
    Querystring: { page_no?: number; per_page?: number; search?: string; sort_order?: 'ASC' | 'DESC' };
  }>(
    `${API_PREFIX}/apps`,
    {
      schema: {
        querystring: S.obj({
          ...pagingQuery,
          search: S.str({ maxLength: 200 }),
          sort_order: S.enum(['ASC', 'DESC']),
        }),
      },
    },
    async (req) => {
      const page = pageRequest(req.query);
      const { rows, total } = await d.repo.apps.list({
        where: { account_id: d.config.accountId },
        ...(req.query.search ? { search: { fields: ['name', 'id'], text: req.query.search } } : {}),
        orderBy: { field: 'created_at', dir: req.query.sort_order ?? 'DESC' },
        limit: page.perPage,
        offset: page.offset,
      });
      return paged(rows.map(appOut), total, page);
    },
  );

  app.post<{ Body: { name: string } }>(
    `${API_PREFIX}/apps`,
    { schema: { body: S.obj({ name: S.nonEmpty(255) }, ['name']) } },
    async (req, reply) => {
      const created = await createApp(d.repo, d.config.accountId, req.body.name);
      d.logger.info({ appId: created.id }, 'app created');
      // RealtimeKit answers this create with 200 and the app wrapped in `data.app` (see docs/api.md).
      return reply.status(200).send(ok({ app: appOut(created) }));
    },
  );

  app.get<{ Params: { app_id: string } }>(
    `${API_PREFIX}/apps/:app_id`,
    { schema: { params: S.obj({ account_id: S.str(), app_id: S.uuid() }) } },
    async (req) => {
      const found = await d.repo.apps.get(req.params.app_id);
      if (!found) throw new RtkError('NOT_FOUND', `App ${req.params.app_id} not found`);
      return ok(appOut(found));
    },
  );
}
