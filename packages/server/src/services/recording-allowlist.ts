/**
 * Live allowlist changes of a running track recording (PATCH .../recordings/{id}, our extension):
 * the checks the media plane cannot make, the command to the recording's worker, and what follows
 * (the store row's `user_ids` and `allowlist_changes`, a `recording.statusUpdate` webhook carrying
 * the change, and an event the media plane turns into a `recordingUpdate` for the participants).
 */
import { RtkError, type RecordingAllowlistActor, type RecordingAllowlistChange } from '@trackroom/protocol';
import type { ServerConfig } from '../config.js';
import type { Repository } from '../store/repository.js';
import type { RecordingRow } from '../store/types.js';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';
import { nowIso } from './clock.js';

/** The PATCH body (the route's schema checks shapes: arrays of 1..255-character ids, no other key). */
export interface AllowlistPatchBody {
  add_user_ids?: string[];
  remove_user_ids?: string[];
}

/** What an allowlist change needs of the media side (the track engine implements it). */
export interface AllowlistEngine {
  updateUsers?(
    recordingId: string,
    change: { atMs: number; add: string[]; remove: string[]; by: RecordingAllowlistActor },
  ): Promise<RecordingAllowlistChange | null | undefined>;
}

/** As many ids as the start call accepts in `user_ids`. */
export const MAX_ALLOWLIST = 100;

/** The checks of a body that need no recording: 400 naming the field. */
export function checkAllowlistBody(body: AllowlistPatchBody): { add: string[]; remove: string[] } {
  const add = body.add_user_ids ?? [];
  const remove = body.remove_user_ids ?? [];
  if (add.length === 0 && remove.length === 0)
    throw new RtkError(
      'VALIDATION_FAILED',
      'body must change something: add_user_ids or remove_user_ids needs at least one user id',
    );
  const both = add.find((id) => remove.includes(id));
  if (both !== undefined)
    throw new RtkError(
      'VALIDATION_FAILED',
      `body/add_user_ids and body/remove_user_ids both name user id ${JSON.stringify(both)}`,
    );
  return { add, remove };
}

export interface AllowlistContext {
  config: Pick<ServerConfig, 'nodeId'>;
  repo: Repository;
  webhooks: WebhookDispatcher;
  engine: AllowlistEngine | undefined;
  /** Told after the row is written (the media plane tells the participants). */
  changed(recording: RecordingRow, change: RecordingAllowlistChange): void;
  /**
   * The change in flight per recording, kept by the owner: changes of one recording run one after
   * the other, each reading the row the previous one wrote.
   */
  queues: Map<string, Promise<unknown>>;
}

/** Applies an allowlist change to `rec` (already found in its app); answers the updated row. */
export function updateAllowlist(
  ctx: AllowlistContext,
  rec: RecordingRow,
  body: AllowlistPatchBody,
  by: RecordingAllowlistActor,
  atMs: number = Date.now(),
): Promise<RecordingRow> {
  const { add, remove } = checkAllowlistBody(body);
  const { queues } = ctx;
  const prev = queues.get(rec.id) ?? Promise.resolve();
  // The previous change's failure was answered to its own caller; this one runs regardless.
  const run = prev.catch(() => undefined).then(() => apply(ctx, rec.id, add, remove, by, atMs));
  queues.set(rec.id, run);
  void run
    .finally(() => {
      if (queues.get(rec.id) === run) queues.delete(rec.id);
    })
    .catch(() => undefined); // the caller gets the error through `run`
  return run;
}

async function apply(
  ctx: AllowlistContext,
  id: string,
  add: string[],
  remove: string[],
  by: RecordingAllowlistActor,
  atMs: number,
): Promise<RecordingRow> {
  const rec = await ctx.repo.recordings.get(id);
  if (!rec) throw new RtkError('NOT_FOUND', `Recording ${id} not found`);
  if (rec.type !== 'TRACK')
    throw new RtkError(
      'CONFLICT',
      `Recording ${id} is a ${rec.type} recording: only track recordings have user_ids`,
    );
  if (rec.status !== 'RECORDING' && rec.status !== 'PAUSED')
    throw new RtkError('CONFLICT', `Recording ${id} is ${rec.status}, not RECORDING or PAUSED`);
  const me = ctx.config.nodeId;
  if (rec.node_id !== undefined && me !== undefined && rec.node_id !== me)
    throw new RtkError('HOSTED_ELSEWHERE', `Recording ${id} is recorded by another server (${rec.node_id})`, {
      node_id: rec.node_id,
    });
  if (!rec.user_ids)
    throw new RtkError(
      'CONFLICT',
      `Recording ${id} records everyone (it was started without user_ids): there is no allowlist to change`,
    );
  const after = new Set([...rec.user_ids.filter((u) => !remove.includes(u)), ...add]);
  if (after.size > MAX_ALLOWLIST)
    throw new RtkError(
      'VALIDATION_FAILED',
      `body/add_user_ids would make user_ids ${after.size} long; at most ${MAX_ALLOWLIST}`,
    );
  const engine = ctx.engine;
  if (!engine?.updateUsers)
    throw new RtkError('NOT_IMPLEMENTED', 'Track recording needs the media plane, which is not running');
  const change = await engine.updateUsers(id, { atMs, add, remove, by });
  if (!change)
    throw new RtkError('CONFLICT', `Recording ${id} is not running on a media worker of this server`);
  const next = await ctx.repo.recordings.update(id, {
    user_ids: change.user_ids,
    allowlist_changes: [...(rec.allowlist_changes ?? []), change],
    updated_at: nowIso(),
  });
  if (!next) throw new RtkError('NOT_FOUND', `Recording ${id} not found`);
  await ctx.webhooks.enqueue(next.app_id, 'recording.statusUpdate', {
    meeting: { id: next.meeting_id, sessionId: next.session_id },
    recording: {
      id: next.id,
      recordingId: next.id,
      type: next.type,
      status: next.status,
      invokedTime: next.invoked_time,
      startedTime: next.started_time,
      stoppedTime: next.stopped_time,
      outputFileName: next.output_file_name,
      userIds: next.user_ids,
    },
    allowlistChange: change,
  });
  ctx.changed(next, change);
  return next;
}
