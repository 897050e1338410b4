/**
 * `meeting.recording`: the meeting's recordings as the server last announced them, the state a
 * RealtimeKit UI shows, and who they capture right now. Fed by `joined.recordings` and
 * `recordingUpdate` messages.
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
  /** Participant ids (`userId`) of the people present whose audio this recording captures. */
  recordedParticipantIds: readonly string[];
}

export type RecordingEvents = {
  /** The state changed; the payload is the new state. */
  recordingUpdate: RecordingState;
  /** The list changed (an entry added or removed, a new status, or whom an entry captures). */
  recordingsUpdate: readonly RecordingEntry[];
};

/** The meeting-wide state derived from its recordings: the most active one wins. */
export function recordingStateOf(
  recordings: readonly {
    id?: string;
    type?: RecordingType;
    status: string;
    recordedParticipantIds?: readonly string[];
  }[],
): RecordingState {
  const statuses = new Set(recordings.map((r) => r.status.toUpperCase()));
  if (statuses.has('RECORDING')) return 'RECORDING';
  if (statuses.has('PAUSED')) return 'PAUSED';
  if (statuses.has('INVOKED') || statuses.has('STARTING')) return 'STARTING';
  if (statuses.has('STOPPING')) return 'STOPPING';
  return 'IDLE';
}

/**
 * Participant ids whose audio is being recorded right now: listed by a recording whose status is
 * RECORDING (a paused or starting recording captures nothing).
 */
export function recordedNow(
  recordings: readonly { status: string; recordedParticipantIds: readonly string[] }[],
): ReadonlySet<string> {
  const ids = new Set<string>();
  for (const r of recordings)
    if (r.status.toUpperCase() === 'RECORDING') for (const id of r.recordedParticipantIds) ids.add(id);
  return ids;
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

export class Recording extends TypedEmitter<RecordingEvents> {
  #state: RecordingState = 'IDLE';
  #recordings: readonly RecordingEntry[] = [];
  #recordedNow: ReadonlySet<string> = new Set();

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

  /** Participant ids (`userId`) whose audio a recording captures right now (status RECORDING). */
  get recordedParticipantIds(): ReadonlySet<string> {
    return this.#recordedNow;
  }

  /** Whether the participant with this `userId` is being recorded right now. */
  isRecording(userId: string): boolean {
    return this.#recordedNow.has(userId);
  }

  /** @internal Replaces the list with the server's full current list; returns whether it changed. */
  update(recordings: readonly RecordingInfo[]): boolean {
    const next: RecordingEntry[] = recordings.map((r) => ({
      id: r.id,
      type: r.type,
      status: r.status,
      recordedParticipantIds: Object.freeze([...(r.recordedParticipantIds ?? [])]),
    }));
    const changed =
      next.length !== this.#recordings.length ||
      next.some((r, i) => {
        const o = this.#recordings[i];
        return (
          !o ||
          o.id !== r.id ||
          o.status !== r.status ||
          o.type !== r.type ||
          !sameIds(o.recordedParticipantIds, r.recordedParticipantIds)
        );
      });
    if (!changed) return false;
    this.#recordings = Object.freeze(next);
    const state = recordingStateOf(next);
    const stateChanged = state !== this.#state;
    // Every field is current before any listener runs.
    this.#state = state;
    this.#recordedNow = recordedNow(next);
    this.emit('recordingsUpdate', this.#recordings);
    if (stateChanged) this.emit('recordingUpdate', state);
    return true;
  }
}
