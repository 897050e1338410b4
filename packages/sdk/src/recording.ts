/**
 * `meeting.recording`: the meeting's recordings as the server last announced them, and the state a
 * RealtimeKit UI shows. Fed by `joined.recordings` and `recordingUpdate` messages.
 */
import { TypedEmitter } from '@trackroom/protocol';
import type { RecordingInfo, RecordingType } from '@trackroom/protocol';

/** RealtimeKit's recording states. */
export type RecordingState = 'IDLE' | 'STARTING' | 'RECORDING' | 'PAUSED' | 'STOPPING';

export interface RecordingEntry {
  id: string;
  type: RecordingType;
  /** The server's status string: INVOKED, RECORDING, PAUSED, UPLOADING, UPLOADED, ERRORED. */
  status: string;
}

export type RecordingEvents = {
  /** The state changed; the payload is the new state. */
  recordingUpdate: RecordingState;
  /** The list changed (any entry added, removed or with a new status). */
  recordingsUpdate: readonly RecordingEntry[];
};

/** The meeting-wide state derived from its recordings: the most active one wins. */
export function recordingStateOf(recordings: readonly RecordingInfo[]): RecordingState {
  const statuses = new Set(recordings.map((r) => r.status.toUpperCase()));
  if (statuses.has('RECORDING')) return 'RECORDING';
  if (statuses.has('PAUSED')) return 'PAUSED';
  if (statuses.has('INVOKED') || statuses.has('STARTING')) return 'STARTING';
  if (statuses.has('STOPPING')) return 'STOPPING';
  return 'IDLE';
}

export class Recording extends TypedEmitter<RecordingEvents> {
  #state: RecordingState = 'IDLE';
  #recordings: readonly RecordingEntry[] = [];

  get recordingState(): RecordingState {
    return this.#state;
  }

  get recordings(): readonly RecordingEntry[] {
    return this.#recordings;
  }

  /** Recordings that are currently capturing media (RECORDING or PAUSED), e.g. to label a badge. */
  get activeRecordings(): readonly RecordingEntry[] {
    return this.#recordings.filter((r) => r.status === 'RECORDING' || r.status === 'PAUSED');
  }

  /** Replaces the list with the server's full current list. */
  update(recordings: readonly RecordingInfo[]): void {
    const next = recordings.map((r) => ({ id: r.id, type: r.type, status: r.status }));
    const changed =
      next.length !== this.#recordings.length ||
      next.some((r, i) => {
        const o = this.#recordings[i];
        return !o || o.id !== r.id || o.status !== r.status || o.type !== r.type;
      });
    if (!changed) return;
    this.#recordings = Object.freeze(next);
    const state = recordingStateOf(next);
    const stateChanged = state !== this.#state;
    // Both fields are current before any listener runs.
    this.#state = state;
    this.emit('recordingsUpdate', this.#recordings);
    if (stateChanged) this.emit('recordingUpdate', state);
  }
}
