/**
 * A meeting (it refreshes itself when people join or leave or the recording changes, unless a tick
 * was changed): its live session with the connected participants, a participant picker that starts a
 * track recording of the ones ticked, and (while one runs) changes whom it records or stops it;
 * then the meeting's recordings.
 */
import type { ApiRecording, ApiSessionPeer, DashboardApi } from './api-client.js';
import { h, link, when } from './dom.js';
import { recordingList } from './lists-view.js';

const RUNNING = new Set(['INVOKED', 'RECORDING', 'PAUSED']);

export async function renderMeeting(
  root: HTMLElement,
  api: DashboardApi,
  appId: string,
  meetingId: string,
  rerender: () => void,
): Promise<void> {
  const [meeting, session, recs] = await Promise.all([
    api.meeting(appId, meetingId),
    api.activeSession(appId, meetingId),
    api.recordings(appId, { meetingId }),
  ]);
  const peers = session ? await api.sessionPeers(appId, session.id) : [];
  const running = recs.rows.find((r) => r.type === 'TRACK' && RUNNING.has(r.status));
  const shown = fingerprint(session?.id, peers, running);

  const refresh = h('button', { type: 'button', id: 'refresh' }, 'Refresh');
  refresh.addEventListener('click', rerender);
  root.replaceChildren(
    h('p', { class: 'crumbs' }, link(`/apps/${appId}`, '← Meetings')),
    h('h2', {}, meeting.title ?? meeting.id),
    h(
      'p',
      { class: 'muted' },
      `Meeting ${meeting.id} · ${meeting.status ?? ''} · created ${when(meeting.created_at)} `,
      refresh,
    ),
    session
      ? liveSession(api, appId, meetingId, session.id, session.started_at, peers, running, rerender)
      : h(
          'section',
          { class: 'card', id: 'live' },
          h('h3', {}, 'Live session'),
          h('p', { role: 'status' }, 'Nobody is in this meeting now.'),
        ),
    h(
      'section',
      { class: 'card' },
      h('h3', {}, 'Recordings of this meeting'),
      recordingList(appId, recs.rows),
    ),
  );
  watch(root, api, appId, meetingId, shown, rerender);
}

/** What the live part of the page shows: who is connected, and the running recording's state. */
function fingerprint(
  sessionId: string | undefined,
  peers: ApiSessionPeer[],
  running: ApiRecording | undefined,
) {
  return JSON.stringify([
    sessionId ?? null,
    peers.map((p) => p.id).sort(),
    running ? [running.id, running.status, [...(running.user_ids ?? [])].sort()] : null,
  ]);
}

const WATCH_MS = 4000;

/**
 * Re-renders the page when someone joins or leaves or the recording changes, but never while the
 * person has changed a tick here (their choice would be lost); stops once the page is left.
 */
function watch(
  root: HTMLElement,
  api: DashboardApi,
  appId: string,
  meetingId: string,
  shown: string,
  rerender: () => void,
): void {
  let touched = false;
  root.addEventListener('change', () => (touched = true));
  root.addEventListener('click', (ev) => {
    if ((ev.target as HTMLElement).closest('button')) touched = true;
  });
  const timer = setInterval(() => {
    if (!root.isConnected) return clearInterval(timer);
    if (touched) return;
    void (async () => {
      const [session, recs] = await Promise.all([
        api.activeSession(appId, meetingId),
        api.recordings(appId, { meetingId }),
      ]);
      const peers = session ? await api.sessionPeers(appId, session.id) : [];
      const running = recs.rows.find((r) => r.type === 'TRACK' && RUNNING.has(r.status));
      if (root.isConnected && !touched && fingerprint(session?.id, peers, running) !== shown) {
        clearInterval(timer);
        rerender();
      }
    })().catch((err: unknown) => {
      // A failed poll changes nothing on the page; the next one tries again.
      console.debug('meeting refresh failed', err);
    });
  }, WATCH_MS);
}

function recordedBy(rec: ApiRecording | undefined, p: ApiSessionPeer): string | undefined {
  const ids = rec?.user_ids ?? [];
  return ids.find(
    (id) => id === p.user_id || (p.custom_participant_id !== undefined && id === p.custom_participant_id),
  );
}

function liveSession(
  api: DashboardApi,
  appId: string,
  meetingId: string,
  sessionId: string,
  startedAt: string | undefined,
  peers: ApiSessionPeer[],
  running: ApiRecording | undefined,
  rerender: () => void,
): HTMLElement {
  const status = h('p', { id: 'action-status', role: 'status' });
  const fail = (err: unknown) => {
    status.className = 'error';
    status.textContent = err instanceof Error ? err.message : String(err);
  };
  // One row per participant (several peers of one participant are one choice).
  const seen = new Set<string>();
  const people = peers.filter((p) => !seen.has(p.user_id) && seen.add(p.user_id));
  const everyone = running !== undefined && (running.user_ids == null || running.user_ids.length === 0);
  const boxes = people.map((p) => {
    const recorded = running !== undefined && (everyone || recordedBy(running, p) !== undefined);
    return {
      p,
      recorded,
      box: h('input', {
        type: 'checkbox',
        name: 'pick',
        value: p.user_id,
        'data-custom-id': p.custom_participant_id,
        checked: running ? recorded : false,
        disabled: everyone,
      }),
    };
  });
  const list = h('ul', { class: 'picker', id: 'picker' });
  for (const { p, box, recorded } of boxes)
    list.append(
      h(
        'li',
        {},
        h(
          'label',
          {},
          box,
          ' ',
          h('strong', {}, p.display_name || p.custom_participant_id || p.user_id),
          p.custom_participant_id ? h('span', { class: 'muted' }, ` ${p.custom_participant_id}`) : null,
          running
            ? h(
                'span',
                { class: recorded ? 'rec' : 'muted' },
                recorded ? ' · being recorded' : ' · not recorded',
              )
            : null,
          h('span', { class: 'muted' }, ` · joined ${when(p.joined_at)}`),
        ),
      ),
    );
  const chosen = () => boxes.filter((b) => b.box.checked);
  const busy = async (btn: HTMLButtonElement, work: () => Promise<void>) => {
    btn.disabled = true;
    status.className = '';
    status.textContent = 'Working…';
    try {
      await work();
      rerender();
    } catch (err) {
      fail(err);
      btn.disabled = false;
    }
  };

  const actions = h('div', { class: 'controls' });
  if (!running) {
    const start = h(
      'button',
      { type: 'button', id: 'start-recording', class: 'primary' },
      'Start track recording',
    );
    start.addEventListener(
      'click',
      () =>
        void busy(start, async () => {
          const ids = chosen().map((b) => b.p.user_id);
          if (!ids.length) throw new Error('Tick at least one participant to record.');
          await api.startTrackRecording(appId, meetingId, ids);
        }),
    );
    actions.append(start);
  } else {
    const apply = h(
      'button',
      { type: 'button', id: 'apply-allowlist', class: 'primary', disabled: everyone },
      'Apply changes',
    );
    apply.addEventListener(
      'click',
      () =>
        void busy(apply, async () => {
          const add = boxes.filter((b) => b.box.checked && !b.recorded).map((b) => b.p.user_id);
          const remove = boxes
            .filter((b) => !b.box.checked && b.recorded)
            .map((b) => recordedBy(running, b.p) ?? b.p.user_id);
          if (!add.length && !remove.length)
            throw new Error('Nothing changed: tick or untick someone first.');
          await api.changeAllowlist(appId, running.id, { add, remove });
        }),
    );
    const stop = h('button', { type: 'button', id: 'stop-recording', class: 'danger' }, 'Stop recording');
    stop.addEventListener(
      'click',
      () =>
        void busy(stop, async () => {
          await api.recordingAction(appId, running.id, 'stop');
        }),
    );
    actions.append(apply, stop);
  }
  return h(
    'section',
    { class: 'card', id: 'live', 'data-session-id': sessionId },
    h('h3', {}, `Live session · ${people.length} connected`),
    h('p', { class: 'muted' }, `Session ${sessionId}, started ${when(startedAt)}`),
    running
      ? h(
          'p',
          { id: 'running', class: 'rec', 'data-recording-id': running.id },
          `Track recording ${running.status}: `,
          link(`/apps/${appId}/recordings/${running.id}`, running.id),
          everyone ? ' (records everyone; started without a list, so it cannot be changed)' : '',
        )
      : h('p', {}, 'Tick whom to record, then start.'),
    list,
    actions,
    status,
  );
}
