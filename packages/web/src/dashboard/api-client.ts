/**
 * The dashboard's admin API client: the RealtimeKit-compatible REST API under
 * `/client/v4/accounts/{account}/realtime/kit` with `Authorization: Bearer <token>`. The token is
 * given by the caller (the dashboard keeps it in sessionStorage) and never put in a URL.
 */

export class DashboardApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'DashboardApiError';
  }
}

export interface ApiApp {
  id: string;
  name: string;
  created_at?: string;
}
export interface ApiMeeting {
  id: string;
  title?: string;
  status?: string;
  created_at?: string;
}
export interface ApiSession {
  id: string;
  associated_id: string;
  status: string;
  live_participants?: number;
  started_at?: string;
}
export interface ApiSessionPeer {
  id: string;
  peer_id: string;
  user_id: string;
  custom_participant_id?: string;
  display_name?: string;
  preset_name?: string;
  joined_at?: string;
  left_at?: string;
}
export interface ApiRecording {
  id: string;
  meeting_id: string;
  type: string;
  status: string;
  invoked_time?: string;
  started_time?: string | null;
  stopped_time?: string | null;
  user_ids?: string[] | null;
  download_url?:
    { layer_name: string; download_urls: Record<string, { download_url: string }> }[] | string | null;
  manifest_url?: string | null;
  recording_duration?: number | null;
  meeting?: ApiMeeting | null;
  stop_reason?: { reason?: string } | null;
  error_reason?: string;
  allowlist_changes?: unknown[];
}
export interface Paging {
  total_count: number;
  start_offset: number;
  end_offset: number;
}

type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface DashboardApiOptions {
  token: string;
  accountId: string;
  /** Default `/client/v4` on the page's own origin. */
  base?: string;
  fetch?: FetchLike;
}

export class DashboardApi {
  readonly #o: Required<DashboardApiOptions>;

  constructor(o: DashboardApiOptions) {
    this.#o = { base: '/client/v4', fetch: (i, init) => fetch(i, init), ...o };
  }

  get #kit(): string {
    return `${this.#o.base}/accounts/${encodeURIComponent(this.#o.accountId)}/realtime/kit`;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<{ data: T; paging?: Paging }> {
    const res = await this.#o.fetch(`${this.#kit}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.#o.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      cache: 'no-store',
    });
    let json: { success?: boolean; data?: T; paging?: Paging; error?: { message?: string } } | undefined;
    try {
      json = (await res.json()) as typeof json;
    } catch {
      throw new DashboardApiError(res.status, `The server answered ${res.status} without a JSON body`);
    }
    if (!res.ok || !json?.success)
      throw new DashboardApiError(res.status, json?.error?.message ?? `The server answered ${res.status}`);
    return { data: json.data as T, ...(json.paging ? { paging: json.paging } : {}) };
  }

  async apps(): Promise<ApiApp[]> {
    return (await this.#call<ApiApp[]>('GET', '/apps?per_page=100')).data;
  }

  async meetings(
    appId: string,
    opts: { page?: number } = {},
  ): Promise<{ rows: ApiMeeting[]; paging?: Paging }> {
    const r = await this.#call<ApiMeeting[]>(
      'GET',
      `/${appId}/meetings?per_page=50&page_no=${opts.page ?? 1}`,
    );
    return { rows: r.data, ...(r.paging ? { paging: r.paging } : {}) };
  }

  async meeting(appId: string, meetingId: string): Promise<ApiMeeting> {
    return (await this.#call<ApiMeeting>('GET', `/${appId}/meetings/${meetingId}`)).data;
  }

  /** The meeting's live session, or undefined when there is none (404). */
  async activeSession(appId: string, meetingId: string): Promise<ApiSession | undefined> {
    try {
      return (await this.#call<ApiSession>('GET', `/${appId}/meetings/${meetingId}/active-session`)).data;
    } catch (err) {
      if (err instanceof DashboardApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** The app's live sessions (one per meeting that has people in it now). */
  async liveSessions(appId: string): Promise<ApiSession[]> {
    const r = await this.#call<{ sessions: ApiSession[] }>(
      'GET',
      `/${appId}/sessions?status=LIVE&per_page=100`,
    );
    return r.data.sessions;
  }

  /** Peers of a session; `live` keeps those still connected (no `left_at`). */
  async sessionPeers(appId: string, sessionId: string, live = true): Promise<ApiSessionPeer[]> {
    const r = await this.#call<{ participants: ApiSessionPeer[] }>(
      'GET',
      `/${appId}/sessions/${sessionId}/participants?per_page=100`,
    );
    return live ? r.data.participants.filter((p) => !p.left_at) : r.data.participants;
  }

  async recordings(
    appId: string,
    q: { meetingId?: string; status?: string[]; page?: number } = {},
  ): Promise<{ rows: ApiRecording[]; paging?: Paging }> {
    const p = new URLSearchParams({ per_page: '50', page_no: String(q.page ?? 1) });
    if (q.meetingId) p.set('meeting_id', q.meetingId);
    for (const s of q.status ?? []) p.append('status', s);
    const r = await this.#call<ApiRecording[]>('GET', `/${appId}/recordings?${p.toString()}`);
    return { rows: r.data, ...(r.paging ? { paging: r.paging } : {}) };
  }

  async recording(appId: string, id: string): Promise<ApiRecording> {
    return (await this.#call<ApiRecording>('GET', `/${appId}/recordings/${id}`)).data;
  }

  async startTrackRecording(appId: string, meetingId: string, userIds: string[]): Promise<ApiRecording> {
    const r = await this.#call<{ recording: ApiRecording }>('POST', `/${appId}/recordings/track`, {
      meeting_id: meetingId,
      user_ids: userIds,
    });
    return r.data.recording;
  }

  async changeAllowlist(
    appId: string,
    id: string,
    change: { add?: string[]; remove?: string[] },
  ): Promise<ApiRecording> {
    return (
      await this.#call<ApiRecording>('PATCH', `/${appId}/recordings/${id}`, {
        ...(change.add?.length ? { add_user_ids: change.add } : {}),
        ...(change.remove?.length ? { remove_user_ids: change.remove } : {}),
      })
    ).data;
  }

  async recordingAction(
    appId: string,
    id: string,
    action: 'stop' | 'pause' | 'resume',
  ): Promise<ApiRecording> {
    return (await this.#call<ApiRecording>('PUT', `/${appId}/recordings/${id}`, { action })).data;
  }
}

/** The files of a track recording (first layer first) with their signed links; empty until UPLOADED. */
export function recordingFiles(r: ApiRecording): { layer: string; fileName: string; url: string }[] {
  if (!Array.isArray(r.download_url)) return [];
  return r.download_url.flatMap((l) =>
    Object.entries(l.download_urls).map(([fileName, v]) => ({
      layer: l.layer_name,
      fileName,
      url: v.download_url,
    })),
  );
}

/**
 * The same signed link on the page's own origin, for when the link as given cannot be reached: its
 * base is the server's `PUBLIC_URL`, which an operator behind a proxy may have left unset. Links are
 * used as given first, because in a cluster a link may rightly point at the node holding the files.
 * Undefined for links that are not this server's downloads (a bucket's) or already on this origin.
 */
export function sameOriginFallback(url: string, origin: string): string | undefined {
  try {
    const u = new URL(url, origin);
    if (!u.pathname.startsWith('/v1/downloads/') || u.origin === new URL(origin).origin) return undefined;
    return `${u.pathname}${u.search}`;
  } catch {
    return undefined;
  }
}
