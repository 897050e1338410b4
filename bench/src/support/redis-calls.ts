import { spawnSync } from 'node:child_process';

/**
 * Commands Redis ran (those inside scripts count too) and round trips (what clients sent: the
 * commands a join path sends itself are ZRANGE, MGET and EVAL), from `INFO commandstats`.
 */
export function redisCalls(port: number): { commands: number; roundTrips: number } {
  const out = spawnSync('redis-cli', ['-p', String(port), 'info', 'commandstats'], {
    encoding: 'utf8',
  }).stdout;
  let commands = 0;
  let roundTrips = 0;
  for (const m of out.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    if (m[1] === 'info') continue;
    commands += Number(m[2]);
    if (['zrange', 'mget', 'eval', 'evalsha'].includes(m[1] as string)) roundTrips += Number(m[2]);
  }
  return { commands, roundTrips };
}
