/**
 * V8 settings for a process that carries media.
 *
 * Allocation-site pretenuring is turned off. V8 moves an allocation site to the old generation once
 * most of its objects survive a scavenge, and keeps it there. A recording's first second holds every
 * packet (the timeline's hold, the files opening), so the recorder's per-packet sites (parsed packet,
 * reorder output, timeline frame) were pretenured at every start and stayed so: in steady state each
 * scavenge then promoted ~7 MB and a mark-compact ran every 1.5-3 s, for objects that live a few
 * milliseconds. Measured at 300 recorded tracks (bench, MEDIA_WORKERS=1, 2026-12-08): with the flag
 * off, the same window's scavenges promote 0.1-0.4 MB each and no mark-compact runs once recording
 * is steady. `V8_PRETENURING=on` keeps V8's default.
 */
import { setFlagsFromString } from 'node:v8';

export function tuneV8ForMedia(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.V8_PRETENURING === 'on') return false;
  // Read by the GC each time it digests allocation feedback, so setting it at start-up takes effect.
  setFlagsFromString('--no-allocation-site-pretenuring');
  return true;
}
