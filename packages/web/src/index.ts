/**
 * @trackroom/web: the join page and the recordings dashboard, served by any HTTP server with no
 * knowledge of their internals.
 *
 *   for (const r of webRoutes()) app.get(r.path, (_req, reply) => reply.type(r.contentType).send(r.body()));
 *
 * `GET /join?authToken=<participant token>` joins at once (`audio=0` joins muted, `video=1` adds the
 * camera). `GET /dashboard` is the recordings dashboard (admin token typed in, kept in sessionStorage).
 * The pages' scripts and the SDK bundles are built by `npm run build -w @trackroom/web` and
 * `npm run build -w @trackroom/sdk`; {@link webAssets} lists them by absolute path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DASHBOARD_PATH, dashboardPageHtml, escapeHtml } from './dashboard-page.js';

export { DASHBOARD_PATH, dashboardPageHtml };

export const JOIN_PAGE_PATH = '/join';
/** URL prefix the assets are served under. */
export const WEB_ASSETS_PREFIX = '/assets/trackroom';

export interface WebAsset {
  /** URL path to serve the file at. */
  path: string;
  contentType: string;
  /** Absolute path of the file on disk. */
  file: string;
}

export interface WebRoute {
  path: string;
  contentType: string;
  /** The response body; files are read on each call (cache as you like). */
  body(): string | Buffer;
  /** Extra response headers the route wants (the dashboard: `cache-control: no-store`, a CSP). */
  headers?: Record<string, string>;
}

const webRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

function sdkRoot(): string {
  // Both the source entry (src/index.ts) and the built one (dist/index.js) sit one level below the root.
  return join(dirname(fileURLToPath(import.meta.resolve('@trackroom/sdk'))), '..');
}

/** The built browser files: the page script and the SDK bundles (ES module and IIFE global). */
export function webAssets(): WebAsset[] {
  const js = 'text/javascript; charset=utf-8';
  const map = 'application/json; charset=utf-8';
  const sdk = join(sdkRoot(), 'dist', 'browser');
  const page = join(webRoot, 'dist', 'browser');
  return [
    { path: `${WEB_ASSETS_PREFIX}/join-page.js`, contentType: js, file: join(page, 'join-page.js') },
    { path: `${WEB_ASSETS_PREFIX}/join-page.js.map`, contentType: map, file: join(page, 'join-page.js.map') },
    { path: `${WEB_ASSETS_PREFIX}/dashboard.js`, contentType: js, file: join(page, 'dashboard.js') },
    { path: `${WEB_ASSETS_PREFIX}/dashboard.js.map`, contentType: map, file: join(page, 'dashboard.js.map') },
    {
      path: `${WEB_ASSETS_PREFIX}/realtimekit-client.js`,
      contentType: js,
      file: join(sdk, 'realtimekit-client.js'),
    },
    {
      path: `${WEB_ASSETS_PREFIX}/realtimekit-client.iife.js`,
      contentType: js,
      file: join(sdk, 'realtimekit-client.iife.js'),
    },
  ];
}

/** Files of {@link webAssets} that are not built yet (empty when all are there). */
export function missingWebAssets(): string[] {
  return webAssets()
    .filter((a) => !a.path.endsWith('.map') && !existsSync(a.file))
    .map((a) => a.file);
}

/** The join page. The page reads `authToken`, `audio`, `video`, `name` from its own query string. */
export function joinPageHtml(opts: { title?: string; assetsPrefix?: string } = {}): string {
  const title = escapeHtml(opts.title ?? 'Trackroom meeting');
  const prefix = opts.assetsPrefix ?? WEB_ASSETS_PREFIX;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${title}</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #111418; color: #e8eaed; }
  header { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; padding: .75rem 1rem; background: #1b1f24; }
  header h1 { font-size: 1.1rem; margin: 0; }
  .icon { width: 1.1em; height: 1.1em; vertical-align: -.2em; }
  #recording { color: #ff6b6b; font-weight: 600; }
  main { padding: 1rem; max-width: 48rem; }
  ul { list-style: none; padding: 0; }
  li, #self { display: flex; gap: .5rem; align-items: center; padding: .4rem .6rem; border-radius: .4rem;
    border: 2px solid transparent; flex-wrap: wrap; }
  .speaking { border-color: #34a853; }
  .name { min-width: 10rem; font-weight: 600; }
  .rec { color: #ff6b6b; font-weight: 600; }
  meter { width: 8rem; }
  video { width: 100%; max-width: 20rem; border-radius: .4rem; background: #000; }
  .controls { display: flex; gap: .5rem; margin: 1rem 0; }
  button { font: inherit; padding: .4rem .9rem; border-radius: .4rem; border: 0; cursor: pointer; }
  button:disabled { opacity: .55; cursor: not-allowed; }
  #leave { background: #d93025; color: #fff; }
  #rejoin { background: #1a73e8; color: #fff; }
  .panel { border-radius: .5rem; padding: .75rem 1rem; margin: 0 0 1rem; }
  .panel h2 { font-size: 1.05rem; margin: 0 0 .35rem; }
  .panel p { margin: 0 0 .5rem; }
  #outside { background: #2a2f36; border-left: 4px solid #8ab4f8; }
  #mic-problem { background: #3a2f12; border-left: 4px solid #fbbc04; }
  #media-problem { background: #4a1c1c; border-left: 4px solid #ff6b6b; }
  #consent { padding: .4rem .6rem; border-radius: .4rem; margin: 0 0 .5rem; background: #1b1f24; }
  #consent[data-recorded="true"] { background: #4a1c1c; color: #ffb4ab; font-weight: 600; }
  #notice { color: #fbbc04; }
</style>
</head>
<body data-state="init">
<header><h1 id="title">${title}</h1><span id="status" role="status">Loading…</span><span id="recording" hidden></span></header>
<main>
  <section id="outside" class="panel" role="alert" hidden>
    <h2 id="outside-title"></h2><p id="outside-text"></p>
    <button id="rejoin" type="button" hidden>Rejoin</button>
  </section>
  <div id="room" hidden>
    <section id="media-problem" class="panel" role="alert" hidden><h2 id="media-problem-title"></h2><p id="media-problem-text"></p></section>
    <section id="mic-problem" class="panel" role="alert" hidden><h2 id="mic-problem-title"></h2><p id="mic-problem-text"></p></section>
    <p id="consent" role="status" data-recorded="false"></p>
    <div id="self"><span class="name" id="self-name">You (you)</span> <span id="self-mic"></span>
      <meter id="self-level" min="0" max="0.3" value="0"></meter><video id="self-video" autoplay muted playsinline hidden></video></div>
    <div class="controls">
      <button id="mute" type="button">Mute</button>
      <button id="camera" type="button">Start camera</button>
      <button id="leave" type="button">Leave</button>
    </div>
    <p id="notice" role="status"></p>
    <h2>Participants</h2>
    <ul id="participants"></ul>
  </div>
</main>
<script type="module" src="${escapeHtml(prefix)}/join-page.js"></script>
</body>
</html>
`;
}

/** The browser entry points, built to `dist/browser/<name>.js`. */
export const PAGE_ENTRIES = {
  'join-page': 'src/page/join-page.ts',
  dashboard: 'src/dashboard/dashboard.ts',
} as const;

/**
 * Builds a page script with esbuild when it is missing (a checkout where only the SDK was built).
 * Returns an error message when that is not possible (esbuild not installed), otherwise undefined.
 */
export function ensurePageBuilt(name: keyof typeof PAGE_ENTRIES): string | undefined {
  const page = join(webRoot, 'dist', 'browser', `${name}.js`);
  if (existsSync(page)) return undefined;
  const entry = join(webRoot, PAGE_ENTRIES[name]);
  if (!existsSync(entry)) return `${page} is missing and the page source is not there to build it`;
  try {
    const esbuild = createRequire(import.meta.url)('esbuild') as {
      buildSync(opts: Record<string, unknown>): unknown;
    };
    esbuild.buildSync({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: ['chrome110', 'firefox115', 'safari16'],
      conditions: ['source'],
      sourcemap: true,
      logLevel: 'silent',
      legalComments: 'none',
      outfile: page,
    });
    return undefined;
  } catch (err) {
    return `${page} is missing and could not be built (${String(err)}): run npm run build -w @trackroom/web`;
  }
}

/** {@link ensurePageBuilt} for the join page. */
export function ensureJoinPageBuilt(): string | undefined {
  return ensurePageBuilt('join-page');
}

/**
 * Headers of the dashboard page: never cached, and scripts, styles and connections only from this
 * origin (the inline style is the page's own; media and links may be a bucket's presigned URLs).
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; media-src 'self' https: http:; connect-src 'self' https:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * Every route the pages need: `GET /join`, `GET /dashboard` and their assets. Mount each as a GET
 * answering `contentType`, `headers` and `body()`. Never throws: when a page script is not built and
 * cannot be built here, its page says so (and {@link missingWebAssets} names the files).
 * `accountId` (default `local`) is the account the dashboard's API calls use.
 */
export function webRoutes(opts: { title?: string; accountId?: string } = {}): WebRoute[] {
  const unavailable = (what: string, problem: string) =>
    `<!doctype html><meta charset="utf-8"><title>${what} unavailable</title><p>The ${what.toLowerCase()} is not built on this server: ${escapeHtml(problem)}</p>`;
  const problem = ensureJoinPageBuilt();
  const html = problem ? unavailable('Join page', problem) : joinPageHtml(opts);
  const dashProblem = ensurePageBuilt('dashboard');
  const dashboard = dashProblem
    ? unavailable('Dashboard', dashProblem)
    : dashboardPageHtml({
        assetsPrefix: WEB_ASSETS_PREFIX,
        ...(opts.accountId ? { accountId: opts.accountId } : {}),
      });
  return [
    { path: JOIN_PAGE_PATH, contentType: 'text/html; charset=utf-8', body: () => html },
    {
      path: DASHBOARD_PATH,
      contentType: 'text/html; charset=utf-8',
      body: () => dashboard,
      headers: { ...DASHBOARD_HEADERS },
    },
    ...webAssets()
      .filter((a) => existsSync(a.file))
      .map((a) => ({ path: a.path, contentType: a.contentType, body: () => readFileSync(a.file) })),
  ];
}

export type { ParticipantAnalysis, TrackroomPageApi } from './page/page-api.js';
