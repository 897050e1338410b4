import type { TurnConfig } from '@trackroom/protocol';

/**
 * How a media worker is built: plain data, passed to a worker process as JSON (in its environment,
 * like the parent's own: TURN_SECRET is there already).
 */
export interface MediaWorkerConfig {
  workerId: number;
  /** The SFU's ICE settings for this worker (its own UDP mux port or port range slice). */
  ice: {
    bindAddress: string;
    announcedAddress?: string;
    portRangeBegin?: number;
    portRangeEnd?: number;
    udpMuxPort?: number;
    /** TURN relays: for the `joined` of its peers (their credentials) and its own connections. */
    turn?: TurnConfig;
  };
  /** The lowest level a worker process forwards to the control plane's logger. Default `info`. */
  logLevel?: LogLevel;
  /** How often the worker reports `load` (ms). Default 1000. */
  loadIntervalMs?: number;
  recording?: { tickMs?: number; clusterMs?: number };
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The environment variable a worker process reads its {@link MediaWorkerConfig} from. */
export const WORKER_CONFIG_ENV = 'TRACKROOM_MEDIA_WORKER_CONFIG';
