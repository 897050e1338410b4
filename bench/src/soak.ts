/**
 * `npm run soak -- [--minutes 60] [--meetings 2] [--peers 10] [--fanout on|off] [--online 5-20]
 *                  [--offline 1-5] [--recording-minutes 10] [--sample-seconds 60] [--after-seconds 60]
 *                  [--env K=V,...] [--node-args=...] [--out bench/results] [--no-docs]
 *                  [--render <result.json> [--notes <file.md>]]`
 *
 * Memory soak: recorded meetings with join/leave churn for a long time, the server's RSS, JS heap,
 * open fds, threads and event-loop lag sampled every minute, then everyone leaves and the same
 * figures are read again a minute later. The churn runs in a separate process (soak-worker.ts) of
 * werift publishers; half of each meeting's participants are selected for recording. Recordings are
 * stopped and restarted every `--recording-minutes` (as meetings end and begin), and a sample of
 * their files is checked with ffprobe. Writes bench/results/soak-<date>.json and the Soak section of
 * docs/BENCHMARKS.md. Run it in a fresh network namespace so all traffic stays on 127.0.0.1:
 *   unshare -n bash -c 'ip link set lo up && npm run soak'
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ffprobe } from '@trackroom/recorder/testing';
import { api, freePort, startServer, type ServerProcess } from '@trackroom/e2e/support';
import { machineInfo, round } from './scenarios.js';
import { renderSoak, writeSoakSection, type SoakResult, type SoakSample } from './soak-report.js';
import type { SoakWorkerConfig, SoakWorkerMessage, SoakWorkerSample } from './soak-worker.js';

const root = new URL('../../', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    meetings: { type: 'string', default: '2' },
    peers: { type: 'string', default: '10' },
    fanout: { type: 'string', default: 'on' },
    online: { type: 'string', default: '5-20' },
    offline: { type: 'string', default: '1-5' },
    'recording-minutes': { type: 'string', default: '10' },
    'sample-seconds': { type: 'string', default: '60' },
    'after-seconds': { type: 'string', default: '60' },
    env: { type: 'string', default: '' },
    'node-args': { type: 'string', default: '' },
    out: { type: 'string', default: join(root, 'bench', 'results') },
    'no-docs': { type: 'boolean', default: false },
    /** Re-render the Soak section from a saved result (with optional hand-written notes). */
    render: { type: 'string' },
    notes: { type: 'string' },
  },
});

if (values.render) {
  const saved = JSON.parse(readFileSync(values.render, 'utf8')) as SoakResult;
  const notes = values.notes ? readFileSync(values.notes, 'utf8').trim() : '';
  const md = renderSoak(saved, relative(root, values.render), notes);
  process.stdout.write(`${md}\n`);
  if (!values['no-docs']) writeSoakSection(join(root, 'docs', 'BENCHMARKS.md'), md);
  process.exit(0);
}

const num = (s: string, what: string) => {
  const v = Number(s);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${what}: not a positive number: ${s}`);
  return v;
};
const range = (s: string, what: string): [number, number] => {
  const [a, b] = s.split('-').map((x) => num(x, what) * 1000);
  if (a === undefined || (b ?? a) < a) throw new Error(`--${what}: expected seconds "min-max", got ${s}`);
  return [a, b ?? a];
};
const opts = {
  minutes: num(values.minutes, 'minutes'),
  meetings: Math.round(num(values.meetings, 'meetings')),
  peers: Math.round(num(values.peers, 'peers')),
  fanout: values.fanout !== 'off',
  onlineMs: range(values.online, 'online'),
  offlineMs: range(values.offline, 'offline'),
  recordingMinutes: num(values['recording-minutes'], 'recording-minutes'),
  sampleSeconds: num(values['sample-seconds'], 'sample-seconds'),
  afterSeconds: num(values['after-seconds'], 'after-seconds'),
  env: Object.fromEntries(
    values.env
      .split(',')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  ) as Record<string, string>,
  nodeArgs: values['node-args'].split(' ').filter(Boolean),
};
const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ServerStats {
  rss_bytes: number;
  heap?: { used_bytes: number; total_bytes: number; external_bytes: number; array_buffers_bytes: number };
  event_loop_delay_ms: { p50: number; p99: number; max: number };
  media: {
    sfu: { peers: number; subscriptions: number; publishConnections: number; [k: string]: number };
    active_track_recordings: number;
    [k: string]: unknown;
  };
}

async function stats(server: ServerProcess): Promise<ServerStats> {
  const res = await fetch(`${server.baseUrl}/v1/stats?reset=1`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  if (res.status !== 200) throw new Error(`/v1/stats: ${res.status}`);
  return ((await res.json()) as { data: ServerStats }).data;
}

/** RSS, threads and open fds of a process, from /proc. */
function procFigures(pid: number): { rssMb: number; threads: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return {
    rssMb: round(field('VmRSS') / 1024),
    threads: field('Threads'),
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
}

/** The churn process. */
class SoakWorker {
  readonly #proc: ChildProcess;
  readonly #inbox: SoakWorkerMessage[] = [];
  readonly #waiters = new Set<() => void>();
  #exited = false;

  constructor(config: SoakWorkerConfig) {
    this.#proc = fork(fileURLToPath(new URL('./soak-worker.ts', import.meta.url)), [], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      env: { ...process.env, SOAK_WORKER_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#proc.on('message', (m) => {
      this.#inbox.push(m as SoakWorkerMessage);
      for (const w of [...this.#waiters]) w();
    });
    this.#proc.once('exit', () => {
      this.#exited = true;
      for (const w of [...this.#waiters]) w();
    });
  }

  get pid(): number {
    return this.#proc.pid ?? -1;
  }

  started(): Promise<unknown> {
    return this.#next('started');
  }

  async sample(): Promise<SoakWorkerSample> {
    this.#proc.send({ type: 'sample' });
    return this.#next('sample');
  }

  /** Everyone leaves; resolves with the final counts. */
  async drain(): Promise<SoakWorkerSample> {
    this.#proc.send({ type: 'drain' });
    return this.#next('drained', 120_000);
  }

  kill(): void {
    if (!this.#exited) this.#proc.kill('SIGKILL');
  }

  #next<T extends SoakWorkerMessage['type']>(
    type: T,
    timeoutMs = 30_000,
  ): Promise<Extract<SoakWorkerMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`soak worker: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        const i = this.#inbox.findIndex((m) => m.type === type || m.type === 'fatal');
        if (i < 0) {
          if (!this.#exited) return;
          clearTimeout(timer);
          this.#waiters.delete(check);
          reject(new Error(`soak worker exited while waiting for ${type}`));
          return;
        }
        const [m] = this.#inbox.splice(i, 1);
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (m!.type === 'fatal') reject(new Error(`soak worker failed: ${m!.message}`));
        else resolve(m as Extract<SoakWorkerMessage, { type: T }>);
      };
      this.#waiters.add(check);
      check();
    });
  }
}

type Call = ReturnType<typeof api>;

interface Meeting {
  id: string;
  tokens: string[];
  /** custom_participant_ids selected for recording (every other participant). */
  selected: string[];
  recording?: string;
}

async function createMeetings(call: Call): Promise<Meeting[]> {
  const out: Meeting[] = [];
  for (let k = 0; k < opts.meetings; k++) {
    const m = await call<{ data: { id: string } }>('POST', '/meetings', { title: `soak ${k}` });
    if (m.status !== 201) throw new Error(`create meeting: ${m.status} ${JSON.stringify(m.json)}`);
    const meeting: Meeting = { id: m.json.data.id, tokens: [], selected: [] };
    for (let j = 0; j < opts.peers; j++) {
      const cpi = `soak${k}-${j}`;
      const p = await call<{ data: { token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
        custom_participant_id: cpi,
        preset_name: 'group_call_host',
        name: cpi,
      });
      if (p.status !== 201) throw new Error(`add participant: ${p.status} ${JSON.stringify(p.json)}`);
      meeting.tokens.push(p.json.data.token);
      if (j % 2 === 0) meeting.selected.push(cpi);
    }
    out.push(meeting);
  }
  return out;
}

/** Starts a recording of the selected participants once the meeting has a live session. */
async function startRecording(call: Call, m: Meeting, until: number): Promise<void> {
  for (;;) {
    const r = await call<{ data: { recording: { id: string } }; error?: { code: string } }>(
      'POST',
      '/recordings/track',
      { meeting_id: m.id, user_ids: m.selected },
    );
    if (r.status === 200) {
      m.recording = r.json.data.recording.id;
      return;
    }
    // Nobody there yet (or between sessions): try again shortly.
    if (r.status >= 500 || Date.now() > until)
      throw new Error(`start recording: ${r.status} ${JSON.stringify(r.json)}`);
    await sleep(500);
  }
}

interface Checked {
  recordings: number;
  files: number;
  probed: number;
  invalid: number;
  problems: string[];
}

/** Stops a meeting's recording, waits for UPLOADED, and ffprobes up to `probe` of its files. */
async function stopAndCheck(
  server: ServerProcess,
  call: Call,
  m: Meeting,
  into: Checked,
  probe = 10,
): Promise<void> {
  const id = m.recording;
  if (!id) return;
  m.recording = undefined;
  const r = await call('PUT', `/recordings/${id}`, { action: 'stop' });
  // 409: it had already ended on its own (the session ended while the meeting was empty).
  if (r.status !== 200 && r.status !== 409)
    throw new Error(`stop recording: ${r.status} ${JSON.stringify(r.json)}`);
  const end = Date.now() + 60_000;
  for (;;) {
    const g = await call<{ data: { status: string } }>('GET', `/recordings/${id}`);
    if (g.json.data.status === 'UPLOADED') break;
    if (g.json.data.status === 'ERRORED' || Date.now() > end) {
      into.problems.push(`${id}: ${g.json.data.status}`);
      return;
    }
    await sleep(200);
  }
  into.recordings++;
  const dir = join(server.dataDir, 'recordings', id);
  const files = readdirSync(dir).filter((f) => f.endsWith('.webm'));
  into.files += files.length;
  const step = Math.max(1, Math.floor(files.length / probe));
  for (let i = 0; i < files.length; i += step) {
    into.probed++;
    try {
      const p = ffprobe(join(dir, files[i]!));
      if (p.codecName !== 'opus' || !Number.isFinite(p.durationSec)) {
        into.invalid++;
        into.problems.push(`${files[i]}: ${p.codecName} ${p.durationSec} s`);
      }
    } catch (err) {
      into.invalid++;
      if (into.problems.length < 20) into.problems.push(`${files[i]}: ${String(err)}`);
    }
  }
}

async function main(): Promise<void> {
  const env: Record<string, string> = {
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    RTC_UDP_MUX_PORT: String(await freePort()),
    ...opts.env,
  };
  const server = await startServer({ env, nodeArgs: opts.nodeArgs });
  const pid = server.proc.pid!;
  const work = mkdtempSync(join(tmpdir(), 'trackroom-soak-'));
  const call = api(server);
  const samples: SoakSample[] = [];
  const checked: Checked = { recordings: 0, files: 0, probed: 0, invalid: 0, problems: [] };
  let worker: SoakWorker | undefined;
  const began = Date.now();
  const read = async (phase: SoakSample['phase'], churn: SoakWorkerSample | undefined) => {
    const s = await stats(server);
    const p = procFigures(pid);
    const sample: SoakSample = {
      phase,
      minute: round((Date.now() - began) / 60_000, 2),
      ...p,
      heapUsedMb: s.heap ? round(s.heap.used_bytes / 2 ** 20) : NaN,
      heapTotalMb: s.heap ? round(s.heap.total_bytes / 2 ** 20) : NaN,
      externalMb: s.heap ? round(s.heap.external_bytes / 2 ** 20) : NaN,
      arrayBuffersMb: s.heap ? round(s.heap.array_buffers_bytes / 2 ** 20) : NaN,
      eventLoopP99Ms: round(s.event_loop_delay_ms.p99, 2),
      eventLoopMaxMs: round(s.event_loop_delay_ms.max, 2),
      peers: s.media.sfu.peers,
      subscriptions: s.media.sfu.subscriptions,
      activeRecordings: s.media.active_track_recordings,
      media: s.media,
      joins: churn?.joins ?? 0,
      online: churn?.online ?? 0,
      failures: churn?.failures ?? 0,
    };
    samples.push(sample);
    log(
      `${phase} t=${sample.minute} min rss ${p.rssMb} MB heap ${sample.heapUsedMb}/${sample.heapTotalMb} MB ext ${sample.externalMb} MB fds ${p.fds} threads ${p.threads} lag p99 ${sample.eventLoopP99Ms} ms | joins ${sample.joins} online ${sample.online} failures ${sample.failures} peers ${sample.peers} subs ${sample.subscriptions} recs ${sample.activeRecordings}`,
    );
    return sample;
  };
  try {
    const meetings = await createMeetings(call);
    await read('idle', undefined);
    worker = new SoakWorker({
      wsUrl: server.wsUrl,
      tokens: meetings.flatMap((m) => m.tokens),
      workDir: work,
      fanout: opts.fanout,
      onlineMs: opts.onlineMs,
      offlineMs: opts.offlineMs,
    });
    await worker.started();
    log(
      `soak: ${opts.minutes} min, ${opts.meetings} meetings of ${opts.peers}, fan-out ${opts.fanout ? 'on' : 'off'}, server pid ${pid}, churn pid ${worker.pid}`,
    );
    const churnEnd = began + opts.minutes * 60_000;
    for (const m of meetings) await startRecording(call, m, Date.now() + 60_000);
    let rotateAt = Date.now() + opts.recordingMinutes * 60_000;
    let nextSample = Date.now() + opts.sampleSeconds * 1000;
    while (Date.now() < churnEnd) {
      await sleep(Math.max(0, Math.min(nextSample, churnEnd, rotateAt) - Date.now()));
      if (Date.now() >= rotateAt && Date.now() < churnEnd) {
        for (const m of meetings) {
          await stopAndCheck(server, call, m, checked);
          await startRecording(call, m, Date.now() + 60_000);
        }
        rotateAt = Date.now() + opts.recordingMinutes * 60_000;
        log(`recordings rotated: ${checked.recordings} checked, ${checked.invalid} invalid files`);
      }
      if (Date.now() >= nextSample) {
        await read('churn', await worker.sample());
        nextSample += opts.sampleSeconds * 1000;
      }
    }
    const last = await worker.drain();
    log(`everyone left: ${last.joins} joins, ${last.failures} failures`);
    for (const m of meetings) await stopAndCheck(server, call, m, checked);
    await read('left', last);
    await sleep(opts.afterSeconds * 1000);
    await read('after', last);
    const machine = { ...machineInfo(), nproc: availableParallelism() };
    const result: SoakResult = {
      machine,
      config: { ...opts, env: opts.env, nodeArgs: opts.nodeArgs },
      samples,
      churn: { joins: last.joins, leaves: last.leaves, failures: last.failures, errors: last.errors },
      recordings: checked,
      durationMin: round((Date.now() - began) / 60_000, 1),
    };
    mkdirSync(values.out, { recursive: true });
    const file = join(values.out, `soak-${machine.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    const md = renderSoak(result, relative(root, file));
    process.stdout.write(`${md}\n`);
    if (!values['no-docs']) writeSoakSection(join(root, 'docs', 'BENCHMARKS.md'), md);
    log(`result: ${file}`);
  } finally {
    worker?.kill();
    await server.stop();
    writeFileSync(join(work, 'server.log'), server.output());
    log(`server log ${join(work, 'server.log')}`);
  }
}

main().catch((err: unknown) => {
  log(`soak failed: ${String(err instanceof Error ? (err.stack ?? err.message) : err)}`);
  process.exit(1);
});
