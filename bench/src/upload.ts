/**
 * `node --conditions=source --import tsx bench/src/upload.ts [--recordings 20,100] [--m 2] [--seconds 20]`
 *
 * Uploading must not disturb live media. R meetings of m publishers (fan-out: each subscribes to the
 * others of its meeting) play; each meeting is track-recorded for `seconds`, then all R recordings
 * are stopped at once and uploaded to an S3-compatible server (s3rver in this process, on
 * 127.0.0.1). Measured: stop → UPLOADED per recording, the server's event-loop delay and the
 * forwarding loss in the upload window next to a window of the same length just before the stop
 * (recording, no uploads), and bytes per second uploaded. Run it in a fresh network namespace:
 *   unshare -nm bash -c 'ip link set lo up && node --conditions=source --import tsx bench/src/upload.ts'
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startS3TestServer } from '@trackroom/server/testing';
import { api, freePort, startServer, type ServerProcess } from '@trackroom/e2e/support';
import { LoadGenerator } from './load.js';
import { machineInfo, round, summarize, type LatencySummary } from './scenarios.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Window {
  seconds: number;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  rtpForwarded: number;
  subscriberReceived: number;
  forwardLossPct: number;
}

interface UploadResult {
  recordings: number;
  storage: 's3' | 'local';
  m: number;
  publishers: number;
  recordSeconds: number;
  stopToUploadedMs: LatencySummary;
  /** First stop → last UPLOADED. */
  allUploadedMs: number;
  objects: number;
  bytes: number;
  bytesPerSecond: number;
  beforeStop: Window;
  duringUploads: Window;
}

async function stats(server: ServerProcess, reset: boolean) {
  const res = await fetch(`${server.baseUrl}/v1/stats${reset ? '?reset=1' : ''}`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  return (
    (await res.json()) as {
      data: {
        event_loop_delay_ms: { p99: number; max: number };
        media: { sfu: { rtpForwarded: number } };
      };
    }
  ).data;
}

async function window(server: ServerProcess, gen: LoadGenerator, run: () => Promise<void>): Promise<Window> {
  await stats(server, true);
  const g0 = await gen.sample();
  const s0 = await stats(server, false);
  const t = performance.now();
  await run();
  const seconds = (performance.now() - t) / 1000;
  const s1 = await stats(server, true);
  const g1 = await gen.sample();
  const fwd = s1.media.sfu.rtpForwarded - s0.media.sfu.rtpForwarded;
  const rec = g1.received - g0.received;
  return {
    seconds: round(seconds, 2),
    eventLoopP99Ms: round(s1.event_loop_delay_ms.p99, 2),
    eventLoopMaxMs: round(s1.event_loop_delay_ms.max, 2),
    rtpForwarded: fwd,
    subscriberReceived: rec,
    // Packets in flight at the edges make this a little noisy either way (can be slightly negative).
    forwardLossPct: fwd > 0 ? round(((fwd - rec) / fwd) * 100, 3) : 0,
  };
}

async function runUpload(
  r: number,
  m: number,
  seconds: number,
  storage: 's3' | 'local',
  log: (s: string) => void,
): Promise<UploadResult> {
  const s3 = await startS3TestServer(['bench']);
  const server = await startServer({
    env: {
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      RTC_UDP_MUX_PORT: String(await freePort()),
      RECORDINGS_STORAGE: storage,
      RECORDINGS_S3_BUCKET: 'bench',
      RECORDINGS_S3_PREFIX: 'bench',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      RECORDINGS_S3_FORCE_PATH_STYLE: 'true',
    },
  });
  const work = mkdtempSync(join(tmpdir(), 'trackroom-bench-upload-'));
  let gen: LoadGenerator | undefined;
  try {
    const call = api(server);
    const meetings: string[] = [];
    const tokens: string[] = [];
    for (let k = 0; k < r; k++) {
      const mt = await call<{ data: { id: string } }>('POST', '/meetings', { title: `upload ${k}` });
      meetings.push(mt.json.data.id);
      for (let j = 0; j < m; j++) {
        const p = await call<{ data: { token: string } }>(
          'POST',
          `/meetings/${mt.json.data.id}/participants`,
          {
            custom_participant_id: `p${k}-${j}`,
            preset_name: 'group_call_host',
          },
        );
        tokens.push(p.json.data.token);
      }
    }
    const [g, ready] = await LoadGenerator.start({
      wsUrl: server.wsUrl,
      tokens,
      workDir: work,
      connectConcurrency: 4,
      workers: 2,
      fanout: m > 1,
    });
    gen = g;
    log(`  R=${r}: ${ready.connected} publishers connected, ${ready.failed} failed`);
    const expected = r * m * (m - 1);
    const t = performance.now();
    while (m > 1 && (await gen.sample()).subscriptions < expected && performance.now() - t < 60_000)
      await sleep(250);
    await gen.play();
    await sleep(1000);
    const recs: string[] = [];
    for (const id of meetings) {
      const rr = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
        meeting_id: id,
      });
      if (rr.status !== 200) throw new Error(`start: ${rr.status} ${JSON.stringify(rr.json)}`);
      recs.push(rr.json.data.recording.id);
    }
    await sleep(seconds * 1000);

    const stopAt = new Map<string, number>();
    const doneAt = new Map<string, number>();
    const uploadWindow = async () => {
      await Promise.all(
        recs.map(async (id) => {
          stopAt.set(id, performance.now());
          const x = await call('PUT', `/recordings/${id}`, { action: 'stop' });
          if (x.status !== 200) throw new Error(`stop: ${x.status}`);
        }),
      );
      const deadline = Date.now() + 300_000;
      while (doneAt.size < recs.length) {
        // The recordings still UPLOADING (they carry no links, so the poll itself mints no
        // presigned URLs): one that left the list is done.
        const l = await call<{ data: { id: string; status: string }[] }>(
          'GET',
          '/recordings?status=UPLOADING&status=RECORDING&per_page=100',
        );
        const now = performance.now();
        const still = new Set(l.json.data.map((x) => x.id));
        for (const id of recs) if (!still.has(id) && !doneAt.has(id)) doneAt.set(id, now);
        if (Date.now() > deadline) throw new Error(`${recs.length - doneAt.size} not UPLOADED in 300 s`);
        await sleep(50);
      }
    };
    // The same length as the upload window, measured just before the stop (recording, no uploads).
    const guess = Math.max(2, Math.min(10, r / 10));
    const beforeStop = await window(server, gen, async () => {
      await sleep(guess * 1000);
    });
    const duringUploads = await window(server, gen, uploadWindow);
    log(`  R=${r}: all UPLOADED ${duringUploads.seconds} s after the stop`);

    const objects = storage === 's3' ? (await s3.keys('bench')).length : 0;
    let bytes = 0;
    for (const id of recs) {
      const v = await call<{ data: { file_size: number; status: string } }>('GET', `/recordings/${id}`);
      if (v.json.data.status !== 'UPLOADED') throw new Error(`recording ${id} is ${v.json.data.status}`);
      bytes += v.json.data.file_size;
    }
    const first = Math.min(...stopAt.values());
    const last = Math.max(...doneAt.values());
    return {
      recordings: r,
      storage,
      m,
      publishers: ready.connected,
      recordSeconds: seconds,
      stopToUploadedMs: summarize(recs.map((id) => round(doneAt.get(id)! - stopAt.get(id)!, 0))),
      allUploadedMs: round(last - first, 0),
      objects,
      bytes,
      bytesPerSecond: round(bytes / ((last - first) / 1000), 0),
      beforeStop,
      duringUploads,
    };
  } finally {
    await gen?.close();
    await server.stop();
    await s3.stop();
  }
}

const { values } = parseArgs({
  options: {
    recordings: { type: 'string', default: '20,100' },
    m: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '20' },
    // local: the same run without a bucket (the files stay on disk), for comparison.
    storage: { type: 'string', default: 's3' },
    out: { type: 'string', default: join(new URL('../../', import.meta.url).pathname, 'bench', 'results') },
  },
});
const sizes = values.recordings.split(',').map(Number);
const results: UploadResult[] = [];
for (const r of sizes) {
  console.log(`upload: ${r} recordings, ${values.m} publishers each, ${values.seconds} s`);
  const storage = values.storage === 'local' ? 'local' : 's3';
  results.push(await runUpload(r, Number(values.m), Number(values.seconds), storage, (s) => console.log(s)));
}
mkdirSync(values.out, { recursive: true });
const file = join(values.out, `upload-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ machine: machineInfo(), results }, null, 2));
console.log(
  `\n| storage | recordings | publishers | stop → UPLOADED p50 / p95 / max (ms) | all uploaded (ms) | bytes/s | event-loop p99 before / during (ms) | forward loss before / during (%) |`,
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const x of results) {
  const s = x.stopToUploadedMs;
  console.log(
    `| ${x.storage} | ${x.recordings} | ${x.publishers} | ${s.p50} / ${s.p95} / ${s.max} | ${x.allUploadedMs} | ${x.bytesPerSecond} | ${x.beforeStop.eventLoopP99Ms} / ${x.duringUploads.eventLoopP99Ms} | ${x.beforeStop.forwardLossPct} / ${x.duringUploads.forwardLossPct} |`,
  );
}
console.log(`\nresults: ${file}`);
process.exit(0);
