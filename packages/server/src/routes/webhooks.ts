import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import { API_PREFIX } from '../http/app.js';
import type { RouteDeps } from '../http/deps.js';
import { ok } from '../http/envelope.js';
import { webhookOut } from '../http/format.js';
import { S, params } from '../http/schema.js';
import { newId, nowIso } from '../services/clock.js';
import type { WebhookRow } from '../store/types.js';
import { WEBHOOK_EVENTS } from '../webhooks/dispatcher.js';

interface Body {
  name?: string;
  url?: string;
  events?: string[];
  enabled?: boolean;
}
const httpUrl = { type: 'string', format: 'uri', pattern: '^https?://', maxLength: 2048 };
const fields = {
  name: S.nonEmpty(255),
  url: httpUrl,
  events: S.arr(S.enum(WEBHOOK_EVENTS), { minItems: 1, uniqueItems: true }),
  enabled: S.bool(),
};

/** Refuses, in the envelope and naming the rule, a URL the outbound policy would never contact. */
function checkTarget(d: RouteDeps, url: string | undefined): void {
  if (url === undefined) return;
  const refused = d.outbound.checkUrl(url);
  if (refused) {
    throw new RtkError('URL_NOT_ALLOWED', `body.url is refused (rule ${refused.rule}): ${refused.message}`, {
      rule: refused.rule,
    });
  }
}

export function webhookRoutes(app: FastifyInstance, d: RouteDeps): void {
  const base = `${API_PREFIX}/:app_id/webhooks`;
  const oneParams = params.with({ webhook_id: S.uuid() });

  async function getOr404(appId: string, id: string): Promise<WebhookRow> {
    const w = await d.repo.webhooks.get(id);
    if (!w || w.app_id !== appId) throw new RtkError('NOT_FOUND', `Webhook ${id} not found`);
    return w;
  }

  app.get<{ Params: { app_id: string } }>(base, { schema: { params: params.app } }, async (req) => {
    const { rows } = await d.repo.webhooks.list({
      where: { app_id: req.params.app_id },
      orderBy: { field: 'created_at', dir: 'ASC' },
    });
    return ok(rows.map(webhookOut));
  });

  app.get(`${base}/all`, { schema: { params: params.app } }, async () => ok([...WEBHOOK_EVENTS]));

  app.post<{ Params: { app_id: string }; Body: Body }>(
    base,
    { schema: { params: params.app, body: S.obj(fields, ['name', 'url', 'events']) } },
    async (req, reply) => {
      checkTarget(d, req.body.url);
      const now = nowIso();
      const row: WebhookRow = {
        id: newId(),
        app_id: req.params.app_id,
        name: req.body.name as string,
        url: req.body.url as string,
        events: req.body.events as string[],
        enabled: req.body.enabled ?? true,
        created_at: now,
        updated_at: now,
      };
      await d.repo.webhooks.insert(row);
      return reply.status(201).send(ok(webhookOut(row)));
    },
  );

  app.get<{ Params: { app_id: string; webhook_id: string } }>(
    `${base}/:webhook_id`,
    { schema: { params: oneParams } },
    async (req) => ok(webhookOut(await getOr404(req.params.app_id, req.params.webhook_id))),
  );

  const edit =
    (replace: boolean) =>
    async (req: { params: { app_id: string; webhook_id: string }; body: Body | undefined }) => {
      const cur = await getOr404(req.params.app_id, req.params.webhook_id);
      const b = req.body ?? {};
      checkTarget(d, b.url);
      const patch: Partial<WebhookRow> = replace
        ? {
            name: b.name as string,
            url: b.url as string,
            events: b.events as string[],
            enabled: b.enabled ?? true,
          }
        : (Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)) as Partial<WebhookRow>);
      const next = await d.repo.webhooks.update(cur.id, { ...patch, updated_at: nowIso() });
      if (!next) throw new RtkError('NOT_FOUND', `Webhook ${cur.id} not found`);
      return ok(webhookOut(next));
    };
  app.patch<{ Params: { app_id: string; webhook_id: string }; Body: Body | undefined }>(
    `${base}/:webhook_id`,
    { schema: { params: oneParams, body: S.obj(fields) } },
    edit(false),
  );
  app.put<{ Params: { app_id: string; webhook_id: string }; Body: Body }>(
    `${base}/:webhook_id`,
    { schema: { params: oneParams, body: S.obj(fields, ['name', 'url', 'events']) } },
    edit(true),
  );

  app.delete<{ Params: { app_id: string; webhook_id: string } }>(
    `${base}/:webhook_id`,
    { schema: { params: oneParams } },
    async (req) => {
      const cur = await getOr404(req.params.app_id, req.params.webhook_id);
      await d.repo.webhooks.delete(cur.id);
      return ok(webhookOut(cur));
    },
  );
}
