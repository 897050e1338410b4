/**
 * The dashboard's HTML shell (server side). It carries no secret: the admin token is typed into the
 * page and kept in the browser's sessionStorage; the account id is not secret and is only a default
 * for the API paths.
 */
export const DASHBOARD_PATH = '/dashboard';

const STYLE = `
  :root { color-scheme: dark; }
  * { box-sizing: border-box; }
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #111418; color: #e8eaed; }
  header { display: flex; gap: 1rem; align-items: center; justify-content: space-between; flex-wrap: wrap;
    padding: .6rem 1rem; background: #1b1f24; }
  header h1 { font-size: 1.1rem; margin: 0; }
  a { color: #8ab4f8; }
  main { padding: .75rem 1rem 2rem; max-width: 80rem; margin: 0 auto; }
  h2 { font-size: 1.25rem; margin: .5rem 0; word-break: break-all; }
  h3 { font-size: 1.05rem; margin: 0 0 .5rem; }
  .card { background: #1b1f24; border-radius: .5rem; padding: .75rem 1rem; margin: 0 0 1rem; }
  .muted { color: #9aa0a6; }
  .error { color: #ff8a80; }
  .rec { color: #ff6b6b; font-weight: 600; }
  .note { color: #9aa0a6; font-size: .9em; }
  button { font: inherit; padding: .35rem .8rem; border-radius: .4rem; border: 1px solid #3c4043;
    background: #2a2f36; color: inherit; cursor: pointer; }
  button:disabled { opacity: .55; cursor: not-allowed; }
  button.primary { background: #1a73e8; border-color: #1a73e8; color: #fff; }
  button.danger { background: #d93025; border-color: #d93025; color: #fff; }
  input[type=password] { font: inherit; padding: .4rem; width: 100%; max-width: 28rem; display: block; margin: .25rem 0 .75rem;
    background: #111418; color: inherit; border: 1px solid #3c4043; border-radius: .3rem; }
  ul.rows, ul.picker, ul.downloads { list-style: none; padding: 0; margin: 0; }
  ul.rows li, ul.picker li { padding: .45rem 0; border-bottom: 1px solid #2a2f36; word-break: break-word; }
  ul.downloads li { padding: .2rem 0; word-break: break-all; }
  input[type=checkbox] { width: 1.15rem; height: 1.15rem; vertical-align: -.2rem; }
  .tl-ruler-track:focus-visible { outline: 2px solid #8ab4f8; outline-offset: 2px; }
  .controls { display: flex; gap: .5rem; flex-wrap: wrap; margin: .5rem 0; }
  .badge { display: inline-block; padding: 0 .4rem; border-radius: .3rem; background: #3c4043; font-size: .85em; }
  .status-uploaded { background: #1e4620; } .status-recording, .status-paused { background: #5c1d1d; }
  .status-errored { background: #6b2a00; }
  fieldset.filter { border: 1px solid #3c4043; border-radius: .4rem; display: flex; flex-wrap: wrap; gap: .25rem .9rem; }
  dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0; }
  dl.facts dd { margin: 0; word-break: break-word; }
  pre { overflow: auto; max-height: 30rem; font-size: 12px; background: #111418; padding: .5rem; }
  .legend { font-size: .85em; color: #9aa0a6; display: flex; flex-wrap: wrap; gap: .2rem .6rem; align-items: center; }
  .key { display: inline-block; width: .9rem; height: .9rem; border-radius: .15rem; vertical-align: -.15rem; }
  .key-speaking { background: #34a853; } .key-present { background: #2f3b4a; } .key-muted { background: #7a5a00; }
  .key-paused { background: repeating-linear-gradient(45deg,#555 0 3px,#222 3px 6px); } .key-mark { background: #fbbc04; width: 3px; }
  .key-file { border-left: 2px solid #c58af9; border-right: 2px solid #c58af9; }
  /* The shared axis: the label column is the same width in every row, so every track starts and
     ends at the same x. On a narrow screen the label goes above its track (full width). */
  .timeline { --label: 11rem; margin: .5rem 0; user-select: none; }
  .tl-row { display: grid; grid-template-columns: var(--label) 1fr; align-items: stretch; gap: .5rem; margin: 0 0 .35rem; }
  .tl-label { min-width: 0; overflow: hidden; font-size: .9em; }
  .tl-label strong { display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .tl-actions { display: flex; gap: .4rem; align-items: center; margin-top: .15rem; }
  .tl-actions button { padding: .1rem .5rem; font-size: .85em; }
  .tl-track { position: relative; height: 3.2rem; background: #0b0d10; border-radius: .25rem; cursor: pointer; overflow: hidden; }
  .tl-ruler-track { height: 1.6rem; background: transparent; border-bottom: 1px solid #3c4043; overflow: visible; }
  .tl-ruler .tl-label { align-self: end; }
  .clock { font-variant-numeric: tabular-nums; }
  .tl-tick { position: absolute; bottom: 0; transform: translateX(-50%); font-size: 11px; color: #9aa0a6;
    border-left: 1px solid #5f6368; padding-left: 0; height: 100%; display: flex; align-items: flex-end; }
  .tl-tick:first-child { transform: none; } .tl-tick:last-of-type { transform: translateX(-100%); }
  .tl-span { position: absolute; top: 0; bottom: 0; }
  .tl-file { z-index: 1; border-left: 2px solid #c58af9; border-right: 2px solid #c58af9; pointer-events: none; }
  .tl-present { background: #2f3b4a; }
  .tl-muted { background: rgba(251, 188, 4, .35); }
  .tl-paused { background: repeating-linear-gradient(45deg, rgba(180,180,180,.35) 0 4px, transparent 4px 8px); }
  .tl-speaking { top: auto; height: .45rem; bottom: 0; background: #34a853; }
  .tl-envelope { position: absolute; inset: 0 0 .45rem 0; width: 100%; height: calc(100% - .45rem); }
  .tl-envelope path { fill: rgba(138, 180, 248, .55); stroke: none; }
  .tl-nolevels { position: absolute; left: .4rem; top: .3rem; font-size: 11px; color: #9aa0a6; }
  .tl-envelope-decoded path { fill: rgba(189, 193, 198, .45); }
  .tl-nolevels .decode { font-size: 11px; padding: 0 .4rem; }
  .tl-mark { position: absolute; top: 0; bottom: 0; width: 0; border-left: 2px solid #fbbc04; }
  .tl-mark-label { position: absolute; top: -1.2rem; left: 2px; font-size: 10px; color: #fbbc04; white-space: nowrap; }
  .tl-playhead { position: absolute; top: 0; bottom: 0; width: 0; border-left: 2px solid #fff; pointer-events: none; }
  @media (max-width: 640px) {
    main { padding: .5rem; }
    .card { padding: .6rem; }
    .tl-row { grid-template-columns: 1fr; gap: .15rem; margin-bottom: .6rem; }
    .tl-label strong { display: inline; } .tl-actions { display: inline-flex; margin: 0 0 0 .5rem; }
    .tl-ruler .tl-label { align-self: auto; }
    .tl-tick:nth-child(even) { color: transparent; }
  }
`;

export function dashboardPageHtml(opts: { accountId?: string; assetsPrefix: string }): string {
  const account = escapeHtml(opts.accountId ?? 'local');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="trackroom-account-id" content="${account}">
<link rel="icon" href="data:,">
<title>Trackroom dashboard</title>
<style>${STYLE}</style>
</head>
<body data-state="loading">
<header><h1>Trackroom recordings</h1><nav id="who"></nav></header>
<main id="main"><p>Loading…</p></main>
<script type="module" src="${escapeHtml(opts.assetsPrefix)}/dashboard.js"></script>
</body>
</html>
`;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
