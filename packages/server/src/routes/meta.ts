import { readFile } from 'node:fs/promises';
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import { API_PREFIX } from '../http/app.js';
import { UNSUPPORTED_ROUTES } from './unsupported.js';

/** The OpenAPI extension that marks an operation this server does not support (it answers 501). */
export const SUPPORTED_MARKER = 'x-trackroom-supported';
export const NOT_SUPPORTED_HERE = 'Not supported here';

/**
 * One line per RealtimeKit operation: what it does. Keys are `METHOD path` with the path after
 * `/client/v4/accounts/:account_id/realtime/kit`. The unsupported ones come from unsupported.ts.
 */
const API_SUMMARIES: Record<string, string> = {
  'GET /apps': 'List the apps of the account',
  'POST /apps': 'Create an app (its own meetings, presets and webhooks)',
  'GET /apps/:app_id': 'Get one app',
  'GET /:app_id/meetings': 'List meetings, newest first; search and time filters',
  'POST /:app_id/meetings': 'Create a meeting',
  'GET /:app_id/meetings/:meeting_id': 'Get one meeting',
  'PUT /:app_id/meetings/:meeting_id': 'Replace a meeting’s settings',
  'PATCH /:app_id/meetings/:meeting_id': 'Change some of a meeting’s settings (e.g. status INACTIVE)',
  'POST /:app_id/meetings/:meeting_id/participants': 'Add a participant; answers its join token',
  'GET /:app_id/meetings/:meeting_id/participants': 'List a meeting’s participants',
  'GET /:app_id/meetings/:meeting_id/participants/:participant_id': 'Get one participant (no token)',
  'PATCH /:app_id/meetings/:meeting_id/participants/:participant_id':
    'Change a participant’s name, picture or preset',
  'PUT /:app_id/meetings/:meeting_id/participants/:participant_id':
    'Replace a participant’s name, picture and preset',
  'DELETE /:app_id/meetings/:meeting_id/participants/:participant_id':
    'Delete a participant; its tokens stop working',
  'POST /:app_id/meetings/:meeting_id/participants/:participant_id/token':
    'Issue a new join token (older ones stay valid until they expire)',
  'GET /:app_id/meetings/:meeting_id/active-session': 'Get the meeting’s live session',
  'POST /:app_id/meetings/:meeting_id/active-session/kick': 'Remove some live participants',
  'POST /:app_id/meetings/:meeting_id/active-session/kick-all': 'Remove every live participant',
  'POST /:app_id/meetings/:meeting_id/active-session/mute': 'Mute some live participants',
  'POST /:app_id/meetings/:meeting_id/active-session/mute-all': 'Mute every live participant',
  'GET /:app_id/presets': 'List presets (permissions and UI settings for participants)',
  'POST /:app_id/presets': 'Create a preset',
  'GET /:app_id/presets/:preset_id': 'Get one preset',
  'PATCH /:app_id/presets/:preset_id': 'Change some of a preset',
  'PUT /:app_id/presets/:preset_id': 'Replace a preset',
  'DELETE /:app_id/presets/:preset_id': 'Delete a preset no participant uses',
  'GET /:app_id/webhooks': 'List the app’s webhooks',
  'POST /:app_id/webhooks': 'Subscribe a URL to events',
  'GET /:app_id/webhooks/all': 'List the event names a webhook can subscribe to',
  'GET /:app_id/webhooks/:webhook_id': 'Get one webhook',
  'PATCH /:app_id/webhooks/:webhook_id': 'Change some of a webhook (e.g. enabled)',
  'PUT /:app_id/webhooks/:webhook_id': 'Replace a webhook',
  'DELETE /:app_id/webhooks/:webhook_id': 'Delete a webhook',
  'GET /:app_id/recordings': 'List recordings with signed download links',
  'POST /:app_id/recordings/track': 'Start a track recording: one audio file per selected participant',
  'GET /:app_id/recordings/active-recording/:meeting_id': 'Get the meeting’s running recording',
  'GET /:app_id/recordings/:recording_id': 'Get one recording, with its files once UPLOADED',
  'PUT /:app_id/recordings/:recording_id': 'Stop, pause or resume a recording',
  'PATCH /:app_id/recordings/:recording_id':
    'Add or remove users of a running track recording (extension; files of removed users close at once)',
  'DELETE /:app_id/recordings/:recording_id':
    'Delete a stopped recording’s files and bucket objects (extension; the record stays, marked deleted_at)',
  'GET /:app_id/sessions': 'List sessions (one per time a meeting was live)',
  'GET /:app_id/sessions/:session_id': 'Get one session',
  'GET /:app_id/sessions/:session_id/participants': 'List the peers that were in a session',
  'GET /:app_id/sessions/:session_id/participants/:participant_id': 'Get one peer of a session',
  'GET /:app_id/sessions/peer-report/:peer_id': 'Get a peer by its peer id',
};

/** Contract operations unsupported here that live outside unsupported.ts. */
const UNSUPPORTED_ELSEWHERE: Record<string, { summary: string; feature: string }> = {
  'POST /:app_id/recordings': {
    summary: 'Start a composite recording (use POST .../recordings/track instead)',
    feature: 'Composite recording',
  },
};

/** The routes this server adds to RealtimeKit's, one line each. Web assets are left out. */
const OWN_ROUTES: Record<string, { summary: string; auth?: 'api_token' }> = {
  'GET /': { summary: 'This server’s landing page: where to go next' },
  'GET /docs': { summary: 'This API reference, readable' },
  'GET /openapi.json': { summary: 'This API reference as OpenAPI 3.0' },
  'GET /docs/track-recording.md': { summary: 'The track recording guide (Markdown)' },
  'GET /join': { summary: 'The join page: /join?authToken=<participant token> (&audio=0 joins muted)' },
  'GET /dashboard': {
    summary: 'The recordings dashboard (admin token typed in the page, kept in its session storage)',
  },
  'GET /healthz': { summary: 'Liveness: { success: true, data: { status: "ok" } }' },
  'GET /livez': { summary: 'Liveness: the process answers (no token)' },
  'GET /readyz': { summary: 'Readiness: 200 when taking traffic, 503 while starting or draining (no token)' },
  'GET /metrics': {
    summary: 'Prometheus metrics (text format; API token or METRICS_TOKEN)',
    auth: 'api_token',
  },
  'GET /v1/stats': { summary: 'Process and media-plane figures (API token needed)', auth: 'api_token' },
  'GET /v1/nodes': {
    summary: 'The nodes of the cluster with their load (REDIS_URL; API token needed)',
    auth: 'api_token',
  },
  'GET /v1/downloads/:recording_id/:file': {
    summary: 'A recording file by signed, expiring link (no token; Range supported)',
  },
  'GET /.well-known/webhooks.json': { summary: 'The public key that verifies webhook signatures' },
};

const unsupported = new Map<string, { summary: string; feature: string }>([
  ...UNSUPPORTED_ROUTES.map(
    (r) => [`${r.method} ${r.path}`, { summary: r.summary, feature: r.feature }] as const,
  ),
  ...Object.entries(UNSUPPORTED_ELSEWHERE),
]);

const openapiPath = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/^\/client\/v4/, '');
/** `/accounts/{account_id}/realtime/kit`: where the RealtimeKit paths of the document start. */
const API_BASE = openapiPath(API_PREFIX);
const isHidden = (url: string) => url.startsWith('/assets/');

/** What the reference says of one operation; undefined when it has no line yet (a test forbids that). */
export function describeOperation(
  method: string,
  url: string,
): { summary: string; supported: boolean; feature?: string; realtimeKit: boolean } | undefined {
  const m = method.toUpperCase();
  if (url.startsWith(`${API_PREFIX}/`)) {
    const key = `${m} ${url.slice(API_PREFIX.length)}`;
    const u = unsupported.get(key);
    if (u) return { summary: u.summary, supported: false, feature: u.feature, realtimeKit: true };
    const summary = API_SUMMARIES[key];
    return summary ? { summary, supported: true, realtimeKit: true } : undefined;
  }
  const own = OWN_ROUTES[`${m} ${url}`];
  return own ? { summary: own.summary, supported: true, realtimeKit: false } : undefined;
}

const INFO = {
  title: 'trackroom REST API (RealtimeKit-compatible)',
  version: '0.1.0',
  description:
    'Self-hosted meetings with per-participant track recording. Paths and shapes follow Cloudflare RealtimeKit; operations marked x-trackroom-supported: false answer 501. Routes tagged "trackroom" are this server’s own and live at the server root.',
};

const ENVELOPE_ERROR = 'Error envelope: { success: false, error: { code, message } }';

/**
 * Registers @fastify/swagger, which describes every route from its schema as it is registered:
 * call (and await) it before any route. Each operation gets its one line, the RealtimeKit ones
 * their paths under the `/client/v4` server, the unsupported ones the marker.
 */
export async function registerApiReference(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: INFO,
      // The host is filled in per request (the port is known only after listen); the path makes
      // @fastify/swagger list the RealtimeKit routes without /client/v4.
      servers: [{ url: 'http://localhost/client/v4' }],
      components: { securitySchemes: { api_token: { type: 'http', scheme: 'bearer' } } },
      security: [{ api_token: [] }],
    },
    transform: ({ schema, url, route }) => {
      const method = Array.isArray(route.method) ? String(route.method[0]) : String(route.method);
      if (isHidden(url) || method === 'HEAD') return { schema: { ...schema, hide: true }, url };
      const api = url.startsWith('/client/v4/');
      const d = describeOperation(method, url);
      const own = api ? undefined : OWN_ROUTES[`${method.toUpperCase()} ${url}`];
      const supported = d?.supported ?? true;
      return {
        url,
        schema: {
          ...schema,
          operationId: `${method.toLowerCase()}${openapiPath(url)
            .replace(/[{}]/g, '')
            .replace(/[^A-Za-z0-9]+/g, '_')}`,
          summary: d ? (supported ? d.summary : `${d.summary} (${NOT_SUPPORTED_HERE.toLowerCase()})`) : '',
          ...(supported
            ? {}
            : {
                description: `${NOT_SUPPORTED_HERE}: ${d?.feature ?? 'this feature'} is not part of this server; the route authenticates, checks the app and answers 501 NOT_IMPLEMENTED.`,
              }),
          [SUPPORTED_MARKER]: supported,
          tags: [api ? 'RealtimeKit' : 'trackroom'],
          ...(api || own?.auth ? {} : { security: [] }),
          response: supported
            ? {
                200: {
                  description: api ? 'Success envelope: { success: true, data }' : 'Success',
                  type: 'object',
                },
                '4XX': { description: ENVELOPE_ERROR, type: 'object' },
              }
            : { 501: { description: ENVELOPE_ERROR, type: 'object' } },
        },
      };
    },
  });
}

type OpenApiDoc = ReturnType<FastifyInstance['swagger']>;

/** The generated document with the real base URL; this server's own routes get the root as server. */
export function buildOpenApi(app: FastifyInstance, publicUrl: string) {
  const doc = structuredClone(app.swagger()) as OpenApiDoc & {
    paths: Record<string, Record<string, unknown>>;
    servers: { url: string }[];
    info: typeof INFO;
  };
  doc.servers = [{ url: `${publicUrl}/client/v4` }];
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.startsWith(API_BASE)) item.servers = [{ url: publicUrl }];
  }
  return doc;
}

const escape = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

const STYLE = `body{font:14px system-ui,sans-serif;margin:2rem;max-width:1100px;line-height:1.45}
td{padding:.3rem .6rem;vertical-align:top;border-bottom:1px solid #ddd}code{font-size:13px}
.m{font-weight:bold;font-family:monospace}.get{color:#06c}.post{color:#080}.put,.patch{color:#a60}.delete{color:#c00}
.q{color:#666;font-size:12px}pre{font-size:11px}tr.no td{color:#777}.badge{border:1px solid #999;border-radius:3px;padding:0 .3rem;font-size:12px}`;

interface DocOp {
  summary: string;
  description?: string;
  [SUPPORTED_MARKER]: boolean;
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
}

function rows(doc: ReturnType<typeof buildOpenApi>, realtimeKit: boolean, prefix: string): string {
  return Object.entries(doc.paths)
    .filter(([path]) => path.startsWith(API_BASE) === realtimeKit)
    .flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([m]) => m !== 'servers')
        .map(([m, op]) => {
          const o = op as DocOp;
          const supported = o[SUPPORTED_MARKER];
          const q = (o.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
          const body = o.requestBody
            ? JSON.stringify(o.requestBody.content['application/json']?.schema, null, 1)
            : '';
          const shown = realtimeKit ? path.slice(API_BASE.length) || '/' : path;
          return `<tr${supported ? '' : ' class="no"'}><td class="m ${m}">${m.toUpperCase()}</td><td><code>${escape(
            prefix + shown,
          )}</code>${q.length ? `<div class="q">query: ${escape(q.join(', '))}</div>` : ''}${
            body ? `<details><summary>body schema</summary><pre>${escape(body)}</pre></details>` : ''
          }</td><td>${escape(supported ? o.summary : o.summary.replace(/ \(not supported here\)$/, ''))}${
            supported ? '' : ` <span class="badge">${NOT_SUPPORTED_HERE}</span> (answers 501)`
          }</td></tr>`;
        }),
    )
    .join('\n');
}

export function docsPage(doc: ReturnType<typeof buildOpenApi>): string {
  const base = doc.servers[0]?.url ?? '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(doc.info.title)}</title>
<style>${STYLE}</style></head>
<body><h1>${escape(doc.info.title)}</h1>
<p>Self-hosted meetings with per-participant track recording. Paths and shapes follow Cloudflare RealtimeKit, so the official <code>cloudflare</code> client works with <code>baseURL: '${escape(base)}'</code>.
Machine-readable: <a href="/openapi.json">/openapi.json</a>. Track recording guide: <a href="/docs/track-recording.md">/docs/track-recording.md</a> (<code>docs/track-recording.md</code> in the source tree).</p>
<h2>RealtimeKit API</h2>
<p>Base URL <code>${escape(base)}</code>. Every route needs <code>Authorization: Bearer &lt;API token&gt;</code>; answers are <code>{ success, data }</code> or <code>{ success: false, error: { code, message } }</code>.
Rows marked <span class="badge">${NOT_SUPPORTED_HERE}</span> are RealtimeKit features this server does not have: they authenticate, then answer 501.</p>
<table>${rows(doc, true, API_BASE)}</table>
<h2>Routes of this server</h2>
<p>At the server root, outside RealtimeKit's paths. The media plane's signalling is the WebSocket <code>/ws?authToken=&lt;participant token&gt;</code> (used by the join page and the SDK).</p>
<table>${rows(doc, false, '')}</table></body></html>`;
}

/** The landing page at `/`: what this server is and where to go. */
export function landingPage(publicUrl: string): string {
  const api = `${publicUrl}/client/v4`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>trackroom</title>
<style>${STYLE}</style></head><body><h1>trackroom</h1>
<p>A self-hosted meeting server with a RealtimeKit-compatible REST API and per-participant track recording.</p>
<ul>
<li><a href="/docs">API reference</a> (every operation in one line; also <a href="/openapi.json">/openapi.json</a>). Base URL <code>${escape(api)}</code>, with <code>Authorization: Bearer &lt;RTK_API_TOKEN&gt;</code>.</li>
<li>Join a meeting: create a meeting and a participant through the API, then open <code>/join?authToken=&lt;token&gt;</code> with the participant’s <code>data.token</code> (<code>&amp;audio=0</code> joins muted).</li>
<li>Browse apps, meetings, live sessions and recordings, and start track recordings: <a href="/dashboard">the dashboard</a> (asks for the API token once).</li>
<li>Record each participant’s audio into its own file: <a href="/docs/track-recording.md">the track recording guide</a> (<code>docs/track-recording.md</code> in the source tree).</li>
<li>Health: <a href="/healthz">/healthz</a>.</li>
</ul></body></html>`;
}

const GUIDE = new URL('../../../../docs/track-recording.md', import.meta.url);

/** `/`, `/docs`, `/openapi.json` and the guide (after `registerApiReference`). */
export function metaRoutes(app: FastifyInstance, publicUrl: () => string): void {
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(landingPage(publicUrl())));
  // The routes are fixed once the server is ready: build each answer once per base URL.
  let built: { url: string; json: string; html: string } | undefined;
  const reference = () => {
    const url = publicUrl();
    if (built?.url !== url) {
      const doc = buildOpenApi(app, url);
      built = { url, json: JSON.stringify(doc), html: docsPage(doc) };
    }
    return built;
  };
  app.get('/openapi.json', async (_req, reply) =>
    reply.type('application/json; charset=utf-8').send(reference().json),
  );
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(reference().html));
  app.get('/docs/track-recording.md', async (_req, reply) => {
    let text: string;
    try {
      text = await readFile(GUIDE, 'utf8');
    } catch {
      throw new RtkError('NOT_FOUND', 'The track recording guide is not installed with this server');
    }
    return reply.type('text/markdown; charset=utf-8').send(text);
  });
}
