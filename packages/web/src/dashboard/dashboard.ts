/**
 * The recordings dashboard's script (`GET /dashboard`): asks for the admin API token once, keeps it
 * in sessionStorage only (never a URL, never localStorage), and routes by the URL hash:
 *
 *   #/                                 apps
 *   #/apps/{app}                       meetings of an app
 *   #/apps/{app}/meetings/{meeting}    live session, participant picker, the meeting's recordings
 *   #/apps/{app}/recordings?status=…   recordings with a status filter
 *   #/apps/{app}/recordings/{id}       the recording page (shared time axis, playback, manifest)
 *
 * For tests it exposes `window.__dashboard` ({@link DashboardPageApi}).
 */
import { DashboardApi, DashboardApiError } from './api-client.js';
import { h, link } from './dom.js';
import { renderApps, renderMeetings, renderRecordings } from './lists-view.js';
import { renderMeeting } from './meeting-view.js';
import { renderRecording } from './recording-view.js';
import type { SyncPlayer } from './sync-player.js';
import type { TimelineLayout } from './timeline-layout.js';

export interface DashboardPageApi {
  /** `login | loading | ready | error`, and the route last rendered. */
  state: string;
  route: string;
  error?: string;
  player?: SyncPlayer;
  layout?: TimelineLayout;
}

const TOKEN_KEY = 'trackroom.dashboard.token';
const pageApi: DashboardPageApi = { state: 'loading', route: '' };
(window as unknown as { __dashboard: DashboardPageApi }).__dashboard = pageApi;

const accountId =
  document.querySelector<HTMLMetaElement>('meta[name="trackroom-account-id"]')?.content || 'local';
const main = document.getElementById('main')!;
const who = document.getElementById('who')!;

function storedToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

function setState(state: string, error?: string): void {
  pageApi.state = state;
  if (error === undefined) delete pageApi.error;
  else pageApi.error = error;
  document.body.dataset.state = state;
}

function showLogin(message?: string): void {
  setState('login', message);
  who.replaceChildren();
  const input = h('input', {
    type: 'password',
    id: 'token',
    name: 'token',
    autocomplete: 'off',
    required: true,
    placeholder: 'RTK_API_TOKEN',
  });
  const form = h(
    'form',
    { id: 'login', class: 'card' },
    h('h2', {}, 'Sign in'),
    h(
      'p',
      {},
      'The admin API token of this server. It is kept in this browser tab only (session storage) and sent with each API call.',
    ),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    message ? h('p', { class: 'error', id: 'login-error', role: 'alert' }, message) : null,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void signIn(input.value.trim());
  });
  main.replaceChildren(form);
  input.focus();
}

async function signIn(token: string): Promise<void> {
  if (!token) return showLogin('Enter the token.');
  try {
    await new DashboardApi({ token, accountId }).apps(); // checks the token
  } catch (err) {
    return showLogin(err instanceof Error ? err.message : String(err));
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  await route();
}

function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
}

function header(): void {
  const out = h('button', { type: 'button', id: 'sign-out' }, 'Sign out');
  out.addEventListener('click', signOut);
  who.replaceChildren(link('/', 'Apps'), ' ', out);
}

async function route(): Promise<void> {
  const token = storedToken();
  if (!token) return showLogin();
  header();
  const api = new DashboardApi({ token, accountId });
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path = '/', query = ''] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  pageApi.route = hash;
  delete pageApi.player;
  delete pageApi.layout;
  setState('loading');
  const view = h('div', { class: 'view' });
  main.replaceChildren(view);
  try {
    if (parts[0] !== 'apps' || !parts[1]) await renderApps(view, api);
    else if (parts.length === 2) await renderMeetings(view, api, parts[1]);
    else if (parts[2] === 'meetings' && parts[3])
      await renderMeeting(view, api, parts[1], parts[3], () => void route());
    else if (parts[2] === 'recordings' && parts[3])
      await renderRecording(view, api, parts[1], parts[3], {
        onPlayer: (player, layout) => Object.assign(pageApi, { player, layout }),
      });
    else if (parts[2] === 'recordings') {
      const status = (new URLSearchParams(query).get('status') ?? '').split(',').filter(Boolean);
      await renderRecordings(view, api, parts[1], status, (s) => {
        location.hash = `/apps/${parts[1]}/recordings${s.length ? `?status=${s.join(',')}` : ''}`;
      });
    } else await renderApps(view, api);
    if (pageApi.route === hash) setState('ready');
  } catch (err) {
    if (err instanceof DashboardApiError && err.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin(err.message);
    }
    const message = err instanceof Error ? err.message : String(err);
    setState('error', message);
    view.replaceChildren(h('p', { class: 'error', role: 'alert' }, message), link('/', 'Back to the apps'));
  }
}

window.addEventListener('hashchange', () => void route());
void route();
