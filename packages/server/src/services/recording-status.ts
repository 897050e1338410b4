import type { RecordingStatus } from '../store/types.js';

/**
 * The recording status machine. It only moves forward, except the PAUSED <-> RECORDING toggle;
 * UPLOADED and ERRORED are final.
 */
const NEXT: Record<RecordingStatus, readonly RecordingStatus[]> = {
  INVOKED: ['RECORDING', 'UPLOADING', 'ERRORED'],
  RECORDING: ['PAUSED', 'UPLOADING', 'ERRORED'],
  PAUSED: ['RECORDING', 'UPLOADING', 'ERRORED'],
  UPLOADING: ['UPLOADED', 'ERRORED'],
  UPLOADED: [],
  ERRORED: [],
};

export function canTransition(from: RecordingStatus, to: RecordingStatus): boolean {
  return NEXT[from].includes(to);
}

export function isFinal(s: RecordingStatus): boolean {
  return NEXT[s].length === 0;
}

/** Statuses in which a recording counts as the meeting's active recording. */
export const ACTIVE_STATUSES: readonly RecordingStatus[] = ['INVOKED', 'RECORDING', 'PAUSED'];
