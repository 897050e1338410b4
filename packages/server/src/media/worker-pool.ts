/**
 * The media workers of the server: starts them, places each meeting on one of them, routes
 * commands for a meeting or a recording to its worker, relays their events, and restarts a worker
 * that exits. A meeting goes to the running worker with the fewest live tracks (then the fewest
 * meetings) at its first admission and stays there while it has peers, active recordings or an
 * admission in flight; every later peer of that meeting is served by the same worker.
 */
import {
  RtkError,
  TypedEmitter,
  type Logger,
  type MediaEvents,
  type MediaPeer,
  type WorkerCommand,
  type WorkerCommands,
  type WorkerEvents,
  type WorkerStats,
} from '@trackroom/protocol';
import type { MediaWorkerHandle } from '@trackroom/media-worker';

export type WorkerPoolEvents = MediaEvents & {
  recordingFailed: WorkerEvents['recordingFailed'];
  /**
   * A worker process died. Its peers are gone (they were not told: the control plane ends them),
   * its recordings were left unfinalised (repair them), its meetings are no longer placed.
   */
  workerLost: { workerId: number; pid: number; peers: MediaPeer[]; recordingIds: string[] };
  /** A worker is (again) running. */
  workerReady: { workerId: number; pid: number; restarts: number };
};

export interface WorkerPoolOptions {
  count: number;
  /** Builds the handle of worker `id` (again after it died). */
  create(id: number): MediaWorkerHandle;
  logger: Logger;
  now?: () => number;
  /** Restart delay after a death: doubles per quick death, up to `maxMs`. Default 500 ms .. 30 s. */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** An admitted socket keeps its meeting placed this long before it joins. Default 30 000 ms. */
  admissionGraceMs?: number;
  /** How often placements of idle meetings are dropped. Default 10 000 ms; 0: only by `sweep()`. */
  sweepIntervalMs?: number;
}

interface Slot {
  id: number;
  handle: MediaWorkerHandle | undefined;
  running: boolean;
  restarts: number;
  backoffMs: number;
  startedAt: number;
  restartTimer: NodeJS.Timeout | undefined;
  offs: (() => void)[];
}

interface Placement {
  workerId: number;
  lastAdmitMs: number;
}

export class WorkerPool extends TypedEmitter<WorkerPoolEvents> {
  readonly #o: WorkerPoolOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #slots: Slot[] = [];
  readonly #placements = new Map<string, Placement>();
  /** Joined peers of every worker, as their events told (the control plane's view of presence). */
  readonly #peers = new Map<string, MediaPeer & { workerId: number }>();
  readonly #recordings = new Map<string, { workerId: number; meetingId: string }>();
  #sweepTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: WorkerPoolOptions) {
    super();
    this.#o = options;
    this.#log = options.logger;
    this.#now = options.now ?? Date.now;
    this.onListenerError = (err, event) =>
      this.#log.error({ err, event: String(event) }, 'a worker pool listener threw');
    for (let id = 0; id < options.count; id++) {
      this.#slots.push({
        id,
        handle: undefined,
        running: false,
        restarts: 0,
        backoffMs: options.restartBackoff?.initialMs ?? 500,
        startedAt: 0,
        restartTimer: undefined,
        offs: [],
      });
    }
  }

  /** Starts every worker; resolves once all are running. */
  async start(): Promise<void> {
    await Promise.all(this.#slots.map((s) => this.#startSlot(s)));
    const every = this.#o.sweepIntervalMs ?? 10_000;
    if (every > 0) {
      this.#sweepTimer = setInterval(() => this.sweep(), every);
      this.#sweepTimer.unref();
    }
  }

  async #startSlot(slot: Slot): Promise<void> {
    const handle = this.#o.create(slot.id);
    slot.handle = handle;
    slot.offs = [
      handle.on('peerJoined', (p) => {
        this.#peers.set(p.peerId, {
          ...p,
          tracks: { ...p.tracks },
          enabled: { ...p.enabled },
          workerId: slot.id,
        });
        this.emit('peerJoined', p);
      }),
      handle.on('trackStarted', (e) => {
        const p = this.#peers.get(e.peerId);
        if (p) p.tracks[e.track.kind] = e.track;
        this.emit('trackStarted', e);
      }),
      handle.on('mediaEnabled', (e) => {
        const p = this.#peers.get(e.peerId);
        if (p) p.enabled[e.kind] = e.enabled;
        this.emit('mediaEnabled', e);
      }),
      handle.on('peerLeft', (e) => {
        this.#peers.delete(e.peerId);
        this.emit('peerLeft', e);
      }),
      handle.on('recordingFailed', (e) => this.emit('recordingFailed', e)),
      handle.on('exit', (e) => this.#onExit(slot, handle, e.pid)),
    ];
    await handle.start();
    if (slot.handle !== handle) return;
    slot.running = true;
    slot.startedAt = this.#now();
    this.#log.info({ worker: slot.id, pid: handle.pid, restarts: slot.restarts }, 'media worker running');
    this.emit('workerReady', { workerId: slot.id, pid: handle.pid, restarts: slot.restarts });
  }

  #onExit(slot: Slot, handle: MediaWorkerHandle, pid: number): void {
    if (slot.handle !== handle) return;
    for (const off of slot.offs) off();
    slot.offs = [];
    slot.running = false;
    slot.handle = undefined;
    const peers: MediaPeer[] = [];
    for (const [id, p] of this.#peers) {
      if (p.workerId !== slot.id) continue;
      this.#peers.delete(id);
      const { workerId: _w, ...peer } = p;
      peers.push(peer);
    }
    const recordingIds: string[] = [];
    for (const [id, r] of this.#recordings)
      if (r.workerId === slot.id) {
        this.#recordings.delete(id);
        recordingIds.push(id);
      }
    for (const [m, pl] of this.#placements) if (pl.workerId === slot.id) this.#placements.delete(m);
    if (this.#closed) return;
    this.#log.error(
      { worker: slot.id, pid, peers: peers.length, recordings: recordingIds.length },
      'media worker died: its peers are gone, its recordings will be repaired',
    );
    this.emit('workerLost', { workerId: slot.id, pid, peers, recordingIds });
    this.#scheduleRestart(slot);
  }

  #scheduleRestart(slot: Slot): void {
    const max = this.#o.restartBackoff?.maxMs ?? 30_000;
    const initial = this.#o.restartBackoff?.initialMs ?? 500;
    // A worker that ran for a while starts again quickly; one that keeps dying waits longer each time.
    if (slot.startedAt && this.#now() - slot.startedAt > 30_000) slot.backoffMs = initial;
    const delay = slot.backoffMs;
    slot.backoffMs = Math.min(max, slot.backoffMs * 2);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.#closed) return;
      slot.restarts++;
      this.#startSlot(slot).catch((err: unknown) => {
        this.#log.error({ err, worker: slot.id }, 'media worker restart failed');
        if (slot.handle) {
          for (const off of slot.offs) off();
          slot.offs = [];
          slot.handle = undefined;
        }
        if (!this.#closed) this.#scheduleRestart(slot);
      });
    }, delay);
    slot.restartTimer.unref();
  }

  get size(): number {
    return this.#slots.length;
  }

  /** The running worker of a placed meeting. */
  workerOf(meetingId: string): MediaWorkerHandle | undefined {
    const pl = this.#placements.get(meetingId);
    const slot = pl ? this.#slots[pl.workerId] : undefined;
    return slot?.running ? slot.handle : undefined;
  }

  /** Places a meeting (or keeps it where it is) for an admission; throws when no worker runs. */
  place(meetingId: string): MediaWorkerHandle {
    const now = this.#now();
    const pl = this.#placements.get(meetingId);
    const current = pl ? this.#slots[pl.workerId] : undefined;
    if (pl && current?.running && current.handle) {
      pl.lastAdmitMs = now;
      return current.handle;
    }
    const tracks = new Map<number, number>();
    const meetings = new Map<number, number>();
    for (const p of this.#peers.values())
      tracks.set(p.workerId, (tracks.get(p.workerId) ?? 0) + Object.keys(p.tracks).length);
    for (const x of this.#placements.values()) meetings.set(x.workerId, (meetings.get(x.workerId) ?? 0) + 1);
    const running = this.#slots.filter((s) => s.running && s.handle);
    running.sort(
      (a, b) =>
        (tracks.get(a.id) ?? 0) - (tracks.get(b.id) ?? 0) ||
        (meetings.get(a.id) ?? 0) - (meetings.get(b.id) ?? 0) ||
        a.id - b.id,
    );
    const chosen = running[0];
    if (!chosen?.handle) throw new RtkError('INTERNAL', 'no media worker is running; try again shortly');
    this.#placements.set(meetingId, { workerId: chosen.id, lastAdmitMs: now });
    this.#log.debug({ meetingId, worker: chosen.id }, 'meeting placed');
    return chosen.handle;
  }

  /** Drops the placements of meetings with no peer, no active recording and no recent admission. */
  sweep(): number {
    const now = this.#now();
    const grace = this.#o.admissionGraceMs ?? 30_000;
    const busy = new Set<string>();
    for (const p of this.#peers.values()) busy.add(p.meetingId);
    for (const r of this.#recordings.values()) busy.add(r.meetingId);
    let dropped = 0;
    for (const [m, pl] of this.#placements) {
      if (busy.has(m) || now - pl.lastAdmitMs < grace) continue;
      this.#placements.delete(m);
      dropped++;
    }
    return dropped;
  }

  /** Peers of a meeting as the workers reported them (hidden ones included). */
  peers(meetingId: string): MediaPeer[] {
    const out: MediaPeer[] = [];
    for (const p of this.#peers.values()) if (p.meetingId === meetingId) out.push(p);
    return out;
  }

  get peerCount(): number {
    return this.#peers.size;
  }

  /** Tracks the peers of every worker publish (the cluster's load figure). */
  get trackCount(): number {
    let n = 0;
    for (const p of this.#peers.values()) n += Object.keys(p.tracks).length;
    return n;
  }

  /** Meetings placed on a worker. */
  get meetingCount(): number {
    return this.#placements.size;
  }

  get recordingCount(): number {
    return this.#recordings.size;
  }

  /** Which worker a meeting is placed on (for stats and tests). */
  placements(): Map<number, string[]> {
    const out = new Map<number, string[]>();
    for (const [m, pl] of this.#placements) out.set(pl.workerId, [...(out.get(pl.workerId) ?? []), m]);
    return out;
  }

  /** A command for a meeting's worker; `undefined` when the meeting is on none (no peer there). */
  async forMeeting<C extends WorkerCommand>(
    meetingId: string,
    command: C,
    params: WorkerCommands[C]['params'],
  ): Promise<WorkerCommands[C]['result'] | undefined> {
    const h = this.workerOf(meetingId);
    return h ? h.call(command, params) : undefined;
  }

  /** Starts a recording on its meeting's worker (placing the meeting if it is on none). */
  async startRecording(spec: WorkerCommands['startRecording']['params']): Promise<void> {
    const h = this.place(spec.meetingId);
    this.#recordings.set(spec.id, { workerId: h.id, meetingId: spec.meetingId });
    try {
      await h.call('startRecording', spec);
    } catch (err) {
      this.#recordings.delete(spec.id);
      throw err;
    }
  }

  /** A command for a recording's worker; `undefined` when no running worker has it. */
  async forRecording<
    C extends
      | 'pauseRecording'
      | 'resumeRecording'
      | 'stopRecording'
      | 'participantsCaptured'
      | 'updateRecordingUsers',
  >(
    recordingId: string,
    command: C,
    params: WorkerCommands[C]['params'],
  ): Promise<WorkerCommands[C]['result'] | undefined> {
    const r = this.#recordings.get(recordingId);
    const slot = r ? this.#slots[r.workerId] : undefined;
    if (!slot?.running || !slot.handle) return undefined;
    const result = await slot.handle.call(command, params);
    if (command === 'stopRecording') this.#recordings.delete(recordingId);
    return result;
  }

  /** Whether a recording runs on a worker that is up. */
  hasRecording(recordingId: string): boolean {
    return this.#recordings.has(recordingId);
  }

  /** Every running worker's figures (a worker that does not answer is left out and logged). */
  async stats(): Promise<WorkerStats[]> {
    const running = this.#slots.filter((s) => s.running && s.handle);
    const all = await Promise.all(
      running.map((s) =>
        s.handle!.call('stats', {}).catch((err: unknown) => {
          this.#log.warn({ err, worker: s.id }, 'a media worker did not report its stats');
          return undefined;
        }),
      ),
    );
    return all.filter((x): x is WorkerStats => x !== undefined);
  }

  /** Closes every worker (peers get 1001; recordings are abandoned, see `shutdown`). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    for (const s of this.#slots) if (s.restartTimer) clearTimeout(s.restartTimer);
    await Promise.all(
      this.#slots.map(async (s) => {
        const h = s.handle;
        if (!h) return;
        await h
          .close()
          .catch((err: unknown) => this.#log.warn({ err, worker: s.id }, 'closing a worker failed'));
        s.running = false;
      }),
    );
  }
}
