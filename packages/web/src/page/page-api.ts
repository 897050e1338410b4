/**
 * What the join page exposes as `window.__trackroom` (for tests and debugging). Types only.
 */
import type { RealtimeKitClient } from '@trackroom/sdk';

export interface ParticipantAnalysis {
  peerId: string;
  userId: string;
  name: string;
  audioEnabled: boolean;
  /** Whether a received audio track is attached to the analyser. */
  hasTrack: boolean;
  /** Peak of the received audio's FFT, in Hz (0 when silent). */
  dominantHz: number;
  /** RMS level of the received audio, 0..1. */
  rms: number;
  speaking: boolean;
}

export interface TrackroomPageApi {
  meeting: RealtimeKitClient | undefined;
  /**
   * 'init' | 'joining' | 'joined' | 'reconnecting' | 'left' | 'kicked' | 'failed' | 'rejected' |
   * 'disconnected' | 'error' (no token in the address, or the page itself failed)
   */
  state: string;
  error: string | undefined;
  /** Milliseconds from page script start to the first `joined`. */
  joinMs: number | undefined;
  /** How many times the page joined (a rejoin after leaving or being removed counts again). */
  joins: number;
  /** The media connections' states (the SDK's `meta.mediaState`), as last shown. */
  mediaState: { producing: string; consuming: string };
  /** Per remote participant, by peer id: what its received audio sounds like right now. */
  analysis(): Record<string, ParticipantAnalysis>;
}

declare global {
  interface Window {
    __trackroom: TrackroomPageApi;
  }
}
