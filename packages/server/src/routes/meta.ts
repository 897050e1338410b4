import type { FastifyInstance, RouteOptions } from 'fastify';

interface Op {
  method: string;
  url: string;
  schema: Record<string, unknown> | undefined;
}

/** Collects routes as they are registered, so /openapi.json describes exactly what this server serves. */
export function collectRoutes(app: FastifyInstance): Op[] {
  const ops: Op[] = [];
  app.addHook('onRoute', (r: RouteOptions) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    for (const m of methods) {
      if (m === 'HEAD' || m === 'OPTIONS') continue;
      ops.push({
        method: m.toLowerCase(),
        url: r.url,
        schema: r.schema as Record<string, unknown> | undefined,
      });
    }
  });
  return ops;
}

function openapiPath(url: string): string {
  return url.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/^\/client\/v4/, '');
}

export function buildOpenApi(ops: Op[], publicUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of ops) {
    if (!op.url.startsWith('/client/v4/')) continue;
    const p = openapiPath(op.url);
    const s = op.schema ?? {};
    const params = (s.params as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
    const query = (s.querystring as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
    const parameters = [
      ...Object.entries(params).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
      ...Object.entries(query).map(([name, schema]) => ({ name, in: 'query', required: false, schema })),
    ];
    (paths[p] ??= {})[op.method] = {
      operationId: `${op.method}${p.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+/g, '_')}`,
      parameters,
      ...(s.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: s.body } } } }
        : {}),
      responses: {
        '200': { description: 'Success envelope: { success: true, data }' },
        '4XX': { description: 'Error envelope: { success: false, error: { code, message } }' },
      },
      security: [{ api_token: [] }],
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'trackroom REST API (RealtimeKit-compatible)',
      version: '0.1.0',
      description:
        'Self-hosted meetings with per-participant track recording. Paths and shapes follow Cloudflare RealtimeKit.',
    },
    servers: [{ url: `${publicUrl}/client/v4` }],
    components: { securitySchemes: { api_token: { type: 'http', scheme: 'bearer' } } },
    security: [{ api_token: [] }],
    paths,
  };
}

const escape = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

export function docsPage(doc: ReturnType<typeof buildOpenApi>): string {
  const rows = Object.entries(doc.paths)
    .flatMap(([path, methods]) =>
      Object.entries(methods).map(([m, op]) => {
        const o = op as {
          parameters: { name: string; in: string }[];
          requestBody?: { content: Record<string, { schema: unknown }> };
        };
        const q = o.parameters.filter((p) => p.in === 'query').map((p) => p.name);
        const body = o.requestBody
          ? JSON.stringify(o.requestBody.content['application/json']?.schema, null, 1)
          : '';
        return `<tr><td class="m ${m}">${m.toUpperCase()}</td><td><code>${escape(path)}</code>${
          q.length ? `<div class="q">query: ${escape(q.join(', '))}</div>` : ''
        }${body ? `<details><summary>body schema</summary><pre>${escape(body)}</pre></details>` : ''}</td></tr>`;
      }),
    )
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(doc.info.title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;max-width:1100px}td{padding:.3rem .6rem;vertical-align:top;border-bottom:1px solid #ddd}
.m{font-weight:bold;font-family:monospace}.get{color:#06c}.post{color:#080}.put,.patch{color:#a60}.delete{color:#c00}.q{color:#666;font-size:12px}pre{font-size:11px}</style></head>
<body><h1>${escape(doc.info.title)}</h1><p>${escape(doc.info.description)}</p>
<p>Base URL: <code>${escape(doc.servers[0]?.url ?? '')}</code>. Every route needs <code>Authorization: Bearer &lt;API token&gt;</code>.
Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p><table>${rows}</table></body></html>`;
}
