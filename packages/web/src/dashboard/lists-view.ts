/** The list pages: apps, the meetings of an app, the recordings of an app with a status filter. */
import type { ApiRecording, DashboardApi } from './api-client.js';
import { h, link, when } from './dom.js';

export const RECORDING_STATUSES = [
  'INVOKED',
  'RECORDING',
  'PAUSED',
  'UPLOADING',
  'UPLOADED',
  'ERRORED',
] as const;

export async function renderApps(root: HTMLElement, api: DashboardApi): Promise<void> {
  const apps = await api.apps();
  const ul = h('ul', { class: 'rows', id: 'apps' });
  for (const a of apps)
    ul.append(
      h(
        'li',
        {},
        link(`/apps/${a.id}`, a.name || a.id),
        h('span', { class: 'muted' }, ` ${a.id}`),
        ' · ',
        link(`/apps/${a.id}/recordings`, 'recordings'),
      ),
    );
  root.replaceChildren(h('h2', {}, 'Apps'), apps.length ? ul : h('p', {}, 'No apps yet.'));
}

export async function renderMeetings(root: HTMLElement, api: DashboardApi, appId: string): Promise<void> {
  const [{ rows, paging }, live] = await Promise.all([api.meetings(appId), api.liveSessions(appId)]);
  const liveBy = new Map(live.map((s) => [s.associated_id, s]));
  const ul = h('ul', { class: 'rows', id: 'meetings' });
  for (const m of rows) {
    const session = liveBy.get(m.id);
    ul.append(
      h(
        'li',
        { 'data-meeting-id': m.id, 'data-live': session !== undefined },
        session
          ? h('span', { class: 'badge status-recording' }, `LIVE · ${session.live_participants ?? 0}`)
          : null,
        session ? ' ' : null,
        link(`/apps/${appId}/meetings/${m.id}`, m.title ?? m.id),
        h('span', { class: 'muted' }, ` · ${m.status ?? ''} · ${when(m.created_at)}`),
      ),
    );
  }
  root.replaceChildren(
    h(
      'p',
      { class: 'crumbs' },
      link('/', '← Apps'),
      ' · ',
      link(`/apps/${appId}/recordings`, 'Recordings of this app'),
    ),
    h('h2', {}, 'Meetings'),
    h(
      'p',
      { class: 'muted' },
      paging
        ? `${paging.total_count} meetings, newest first${paging.total_count > rows.length ? ` (first ${rows.length} shown)` : ''}`
        : '',
    ),
    rows.length ? ul : h('p', {}, 'No meetings yet.'),
  );
}

export async function renderRecordings(
  root: HTMLElement,
  api: DashboardApi,
  appId: string,
  status: string[],
  onFilter: (status: string[]) => void,
): Promise<void> {
  const { rows, paging } = await api.recordings(appId, { status });
  const filter = h('fieldset', { class: 'filter', id: 'status-filter' }, h('legend', {}, 'Status'));
  for (const s of RECORDING_STATUSES) {
    const box = h('input', { type: 'checkbox', value: s, checked: status.includes(s) });
    box.addEventListener('change', () =>
      onFilter([...filter.querySelectorAll<HTMLInputElement>('input:checked')].map((b) => b.value)),
    );
    filter.append(h('label', {}, box, ` ${s}`));
  }
  root.replaceChildren(
    h('p', { class: 'crumbs' }, link(`/apps/${appId}`, '← Meetings')),
    h('h2', {}, 'Recordings'),
    filter,
    h(
      'p',
      { class: 'muted' },
      paging
        ? `${paging.total_count} recordings${status.length ? ` with status ${status.join(' or ')}` : ''}`
        : '',
    ),
    recordingList(appId, rows),
  );
}

export function recordingList(appId: string, rows: ApiRecording[]): HTMLElement {
  if (!rows.length) return h('p', {}, 'No recordings.');
  const ul = h('ul', { class: 'rows', id: 'recordings' });
  for (const r of rows)
    ul.append(
      h(
        'li',
        { 'data-recording-id': r.id, 'data-status': r.status },
        h('span', { class: `badge status-${r.status.toLowerCase()}` }, r.status),
        ' ',
        link(
          `/apps/${appId}/recordings/${r.id}`,
          r.meeting?.title ? `${r.meeting.title} · ${when(r.invoked_time)}` : when(r.invoked_time),
        ),
        h(
          'span',
          { class: 'muted' },
          ` · ${r.type}${r.recording_duration != null ? ` · ${r.recording_duration} s` : ''} · ${r.user_ids?.length ? `${r.user_ids.length} chosen` : 'everyone'}`,
        ),
      ),
    );
  return ul;
}
