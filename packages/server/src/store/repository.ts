import type {
  AppRow,
  MeetingRow,
  ParticipantRow,
  PresetRow,
  RecordingRow,
  RecordingUploadRow,
  SessionPeerRow,
  SessionRow,
  WebhookDeliveryRow,
  WebhookRow,
} from './types.js';

export type Scalar = string | number | boolean | null;

/** An insert that a unique index refused (e.g. a second participant with the same custom_participant_id). */
export class DuplicateKeyError extends Error {
  override readonly name = 'DuplicateKeyError';
  /** The index that refused it. */
  readonly index: string;
  constructor(index: string, cause: unknown) {
    super(`duplicate key (${index})`, { cause });
    this.index = index;
  }
}

/** A query over one collection. Fields are top-level row fields. */
export interface ListQuery<T> {
  where?: { [K in keyof T]?: Scalar };
  whereIn?: { field: keyof T & string; values: Scalar[] };
  /** Fields that must be present and not null. */
  notNull?: (keyof T & string)[];
  /** Case-insensitive substring match on any of the fields. */
  search?: { fields: (keyof T & string)[]; text: string };
  /** Inclusive bounds on an ISO-time field. */
  range?: { field: keyof T & string; from?: string; to?: string };
  orderBy?: { field: keyof T & string; dir: 'ASC' | 'DESC' };
  limit?: number;
  offset?: number;
}

export interface ListResult<T> {
  rows: T[];
  total: number;
}

/** One collection of rows with an `id`, over SQLite (sqlite-repository.ts) or PostgreSQL (postgres-repository.ts). */
export interface Collection<T extends { id: string }> {
  /** Rejects with DuplicateKeyError when the id or a unique index is taken. */
  insert(row: T): Promise<T>;
  get(id: string): Promise<T | undefined>;
  /** Applies a partial update and returns the new row, or undefined when there is no such row. */
  update(id: string, patch: Partial<T>): Promise<T | undefined>;
  /**
   * Compare-and-set: applies `patch` only when every field in `expected` still has that value, in
   * one atomic step (two nodes claiming the same row: exactly one gets it). Returns the new row, or
   * undefined when the row is gone or changed.
   */
  updateIf(id: string, expected: { [K in keyof T]?: Scalar }, patch: Partial<T>): Promise<T | undefined>;
  delete(id: string): Promise<boolean>;
  list(query?: ListQuery<T>): Promise<ListResult<T>>;
  findOne(where: { [K in keyof T]?: Scalar }): Promise<T | undefined>;
}

/** Everything the control plane stores (the collections of StoreCollections, below). Routes and services see only this interface. */
export interface Repository extends StoreCollections {
  /** Runs `fn` so that either all of its writes land or none do. */
  transaction<R>(fn: () => Promise<R>): Promise<R>;
  /**
   * Runs start-up work (the default app, generated secrets) that two nodes sharing this store must
   * not do at the same time: the second waits and then finds it done. Must not nest.
   */
  withStartupLock<R>(fn: () => Promise<R>): Promise<R>;
  /** A small key-value area for server secrets and settings. */
  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The collections every store has, each made by the store's own `make(table)`: one list of tables
 * for both stores (the SQL schemas name the same tables).
 */
export abstract class StoreCollections {
  readonly apps: Collection<AppRow>;
  readonly presets: Collection<PresetRow>;
  readonly meetings: Collection<MeetingRow>;
  readonly participants: Collection<ParticipantRow>;
  readonly webhooks: Collection<WebhookRow>;
  readonly webhookDeliveries: Collection<WebhookDeliveryRow>;
  readonly sessions: Collection<SessionRow>;
  readonly sessionPeers: Collection<SessionPeerRow>;
  readonly recordings: Collection<RecordingRow>;
  readonly recordingUploads: Collection<RecordingUploadRow>;

  protected constructor(make: <T extends { id: string }>(table: string) => Collection<T>) {
    this.apps = make('apps');
    this.presets = make('presets');
    this.meetings = make('meetings');
    this.participants = make('participants');
    this.webhooks = make('webhooks');
    this.webhookDeliveries = make('webhook_deliveries');
    this.sessions = make('sessions');
    this.sessionPeers = make('session_peers');
    this.recordings = make('recordings');
    this.recordingUploads = make('recording_uploads');
  }
}
