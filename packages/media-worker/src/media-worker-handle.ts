import type { Duplex } from 'node:stream';
import type {
  TypedEmitter,
  WorkerAdmission,
  WorkerCommand,
  WorkerCommands,
  WorkerEvent,
  WorkerEvents,
} from '@trackroom/protocol';

/** A handle's events: the worker's own, plus `exit` when a worker process ends (never in-process). */
export type MediaWorkerHandleEvents = WorkerEvents & {
  exit: { workerId: number; pid: number; code: number | null; signal: string | null };
};

/** Every event a worker reports, for relays that forward all of them (a child's IPC, the pool). */
export const WORKER_EVENT_NAMES = [
  'peerJoined',
  'peerLeft',
  'trackStarted',
  'mediaEnabled',
  'ready',
  'load',
  'recordingFailed',
] as const satisfies readonly WorkerEvent[];

// Compile-time check that the list above names every event of WorkerEvents.
type Missing = Exclude<WorkerEvent, (typeof WORKER_EVENT_NAMES)[number]>;
const _complete: Missing extends never ? true : Missing = true;
void _complete;

/**
 * What the control plane holds of a media worker, in-process ({@link MediaWorker}) or in a child
 * process ({@link ChildMediaWorker}): commands as requests with typed results, a socket handed over
 * with the identity already admitted, the worker's events.
 */
export interface MediaWorkerHandle extends TypedEmitter<MediaWorkerHandleEvents> {
  readonly id: number;
  /** The process that runs the worker (the control plane's own pid when in-process). */
  readonly pid: number;
  /** Builds what is needed and emits `ready`; resolves once the worker takes commands. */
  start(): Promise<void>;
  call<C extends WorkerCommand>(
    command: C,
    params: WorkerCommands[C]['params'],
  ): Promise<WorkerCommands[C]['result']>;
  /** Hands an upgrade socket over; the worker completes the WebSocket handshake. */
  admit(admission: WorkerAdmission, socket: Duplex): void;
  /** Closes every peer (1001) and abandons recordings unfinalised; idempotent. */
  close(): Promise<void>;
}
