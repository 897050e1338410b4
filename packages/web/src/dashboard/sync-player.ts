/**
 * Plays a recording's files together from one instant of the recording timeline: each `<audio>` is
 * seeked to that instant minus its file's own start (files of late joiners start later), all seeks
 * are awaited, then all play at once. A file that starts after the instant waits at 0 and starts
 * when the others reach its start.
 */
import { seekTargets } from './timeline-layout.js';

export interface PlayerTrack {
  fileName: string;
  fileStartMs: number;
  fileEndMs: number;
  el: HTMLAudioElement;
}

/** How long to wait for one element's seek before playing anyway. */
const SEEK_WAIT_MS = 3000;

export class SyncPlayer {
  readonly #tracks: PlayerTrack[];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #generation = 0;
  /** The instant (ms on the timeline) of the last playAt, and which files it played. */
  last: { atMs: number; only?: string; startedAt: number } | undefined;

  constructor(tracks: PlayerTrack[]) {
    this.#tracks = tracks;
  }

  /** Plays every file (or only `only`) from `atMs` on the recording timeline; pauses the others. */
  async playAt(atMs: number, only?: string): Promise<void> {
    const gen = ++this.#generation;
    this.#clearTimers();
    this.last = { atMs, ...(only ? { only } : {}), startedAt: performance.now() };
    const chosen = this.#tracks.filter((t) => !only || t.fileName === only);
    for (const t of this.#tracks) if (!chosen.includes(t)) t.el.pause();
    const targets = seekTargets(chosen, atMs);
    await Promise.all(
      chosen.map((t, i) => {
        t.el.pause();
        return seek(t.el, targets[i]!.currentTimeS);
      }),
    );
    if (gen !== this.#generation) return; // a newer click won
    const plays: Promise<void>[] = [];
    chosen.forEach((t, i) => {
      const target = targets[i]!;
      if (target.ended) return;
      if (target.startInMs > 0) {
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          if (gen !== this.#generation) return;
          // A timer fires late: start where the files already playing are now, not at 0.
          const ref = this.positionMs();
          if (ref !== undefined && ref > t.fileStartMs) t.el.currentTime = (ref - t.fileStartMs) / 1000;
          void t.el.play().catch(() => undefined);
        }, target.startInMs);
        this.#timers.add(timer);
      } else plays.push(t.el.play());
    });
    await Promise.all(plays);
  }

  pause(): void {
    this.#generation++;
    this.#clearTimers();
    for (const t of this.#tracks) t.el.pause();
  }

  /** Where playback is on the recording timeline (ms): the first playing file's position. */
  positionMs(): number | undefined {
    const t = this.#tracks.find((x) => !x.el.paused);
    return t ? t.fileStartMs + t.el.currentTime * 1000 : undefined;
  }

  get playing(): boolean {
    return this.#tracks.some((t) => !t.el.paused);
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}

function seek(el: HTMLAudioElement, seconds: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      el.removeEventListener('seeked', done);
      resolve();
    };
    const timer = setTimeout(done, SEEK_WAIT_MS);
    el.addEventListener('seeked', done);
    el.currentTime = seconds;
    // Already there (no seek happens): nothing will fire.
    if (!el.seeking) done();
  });
}
