/**
 * The arithmetic of a live allowlist change (PATCH .../recordings/{id}): the new `user_ids` of a
 * running track recording, kept apart from the recording object so that it is tested on its own.
 */
import { RecorderError } from './errors.js';

export interface AllowlistDelta {
  /** The allowlist after the change, in order: the old ids left, then the added ones. */
  userIds: string[];
  /** Ids that were really added / removed (already present or absent ids are left out). */
  added: string[];
  removed: string[];
}

/**
 * Applies `add` and `remove` to `current`. An id asked in both is refused (the change would mean
 * two things); adding an id already there and removing one that is not are no-ops.
 */
export function applyAllowlistChange(
  current: readonly string[],
  add: readonly string[],
  remove: readonly string[],
): AllowlistDelta {
  const both = add.find((id) => remove.includes(id));
  if (both !== undefined)
    throw new RecorderError('RECORDER_INVALID_OPTIONS', `user id ${both} is both added and removed`);
  const gone = new Set(remove);
  const kept = current.filter((id) => !gone.has(id));
  const removed = current.filter((id) => gone.has(id));
  const added = [...new Set(add)].filter((id) => !kept.includes(id));
  return { userIds: [...kept, ...added], added, removed };
}

/** Every id that was on the allowlist at some point, first appearance first (for the manifest). */
export function everRequested(initial: readonly string[], added: readonly string[][]): string[] {
  const out: string[] = [...initial];
  for (const ids of added) for (const id of ids) if (!out.includes(id)) out.push(id);
  return out;
}
