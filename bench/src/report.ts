/** Targets and the Markdown report of a benchmark result. */
import { generatorName, type GeneratorKind } from './load.js';
import type { LoadResult, StartStopResult } from './scenarios.js';

export interface BenchResult {
  machine: { nproc: number; cpuModel: string; node: string; date: string; kernel: string };
  config: {
    n: number[];
    m: number;
    seconds: number;
    cycles: number;
    quick: boolean;
    pairs?: number;
    workers?: number;
    /** Absent in results from before it was selectable: werift. */
    generator?: GeneratorKind;
    udpMux?: boolean;
    fanout?: boolean;
  };
  load: LoadResult[];
  /** Sizes whose run broke (connection failures, API errors), with the error. */
  failures?: { n: number; error: string }[];
  startStop: StartStopResult | null;
  targets: TargetResult[];
  durationSec: number;
  /** Hand-written findings (profile, diagnosis) inserted after the targets, from --notes <file.md>. */
  notes?: string;
}

export interface TargetResult {
  target: string;
  status: 'met' | 'missed' | 'not reached' | 'inconclusive';
  detail: string;
}

export const TRACKS_PER_CORE_TARGET = 300;
export const RECORDING_OVERHEAD_TARGET_PCT = 10;
export const START_P95_TARGET_MS = 100;
export const STOP_P95_TARGET_MS = 1000;
export const CAPACITY_EVENT_LOOP_P99_MS = 50;

export const modeOf = (l: LoadResult) => (l.fanout ? 'fan-out' : 'ingest only');

/**
 * The load targets are judged per mode (fan-out: everyone subscribed; ingest only: nothing forwarded)
 * when a result holds both, each labelled with its mode; the start/stop targets once.
 */
export function evaluateTargets(load: LoadResult[], ss: StartStopResult | null): TargetResult[] {
  const modes = [...new Set(load.map(modeOf))].sort((a) => (a === 'fan-out' ? -1 : 1));
  if (modes.length <= 1) return evaluateMode(load, ss);
  const out: TargetResult[] = [];
  for (const mode of modes) {
    const ts = evaluateMode(
      load.filter((l) => modeOf(l) === mode),
      null,
    );
    out.push(...ts.map((t) => ({ ...t, target: `${t.target} — ${mode}` })));
  }
  return [...out, ...evaluateMode([], ss)];
}

function evaluateMode(load: LoadResult[], ss: StartStopResult | null): TargetResult[] {
  const out: TargetResult[] = [];
  // 1. ≥300 recorded tracks per core, zero loss: only a run that really recorded ≥300 tracks counts.
  const recorded = load.filter((l) => l.record.activeTrackRecordings > 0);
  const clean = (l: LoadResult) =>
    l.totalSent === l.totalRtpReceived &&
    l.correctness.manifestLost === 0 &&
    (l.totalRtpForwarded ?? 0) === (l.totalSubscriberReceived ?? 0);
  const big = recorded.find(
    (l) => l.connect.connected >= TRACKS_PER_CORE_TARGET && l.record.serverCpuPct <= 100 && clean(l),
  );
  const top = [...recorded].sort((a, b) => b.connect.connected - a.connect.connected)[0];
  if (big) {
    out.push({
      target: `≥${TRACKS_PER_CORE_TARGET} recorded tracks per core, zero loss`,
      status: 'met',
      detail: `${big.connect.connected} tracks at ${big.record.serverCpuPct}% of a core, loss 0`,
    });
  } else if (top) {
    const perCore = Math.round(top.connect.connected / (top.record.serverCpuPct / 100));
    const why = top.record.generatorBound
      ? `generator-bound at N=${top.n} (generator ${top.record.generatorCpuPct}% of a core, lag p99 ${top.record.generatorEventLoopP99Ms} ms)`
      : `largest run N=${top.n}`;
    out.push({
      target: `≥${TRACKS_PER_CORE_TARGET} recorded tracks per core, zero loss`,
      status: 'not reached',
      detail:
        `${why}; server ${top.record.serverCpuPct}% of a core for ${top.connect.connected} recorded tracks, ` +
        `loss ${top.totalSent - top.totalRtpReceived} of ${top.totalSent} packets (manifest lost ${top.correctness.manifestLost})${fwdLoss(top)}; ` +
        `a linear extrapolation would give ≈${perCore} tracks/core — not measured`,
    });
  }
  // 1b. Capacity: the largest N recorded with zero loss and the server's event loop p99 < 50 ms in
  // every record window; says whether the generator or the server was the limit there.
  if (top) {
    const windowsOf = (l: LoadResult) =>
      l.windows?.filter((x) => x.scenario === 'record').map((x) => x.w) ?? [l.record];
    const fits = (l: LoadResult) =>
      clean(l) &&
      l.connect.failed === 0 &&
      windowsOf(l).every((w) => w.eventLoopP99Ms < CAPACITY_EVENT_LOOP_P99_MS);
    const best = [...recorded].filter(fits).sort((a, b) => b.n - a.n)[0];
    const above = recorded.filter((l) => !fits(l) && (!best || l.n > best.n)).sort((a, b) => a.n - b.n)[0];
    const limit = (l: LoadResult) => {
      const w = l.record;
      const machine = w.serverCpuPct + w.generatorCpuPct;
      return `server ${w.serverCpuPct}% + generator ${w.generatorCpuPct}% (busiest generator process ${w.generatorMaxWorkerCpuPct ?? w.generatorCpuPct}%, lag p99 ${w.generatorEventLoopP99Ms} ms) = ${Math.round(machine)}% of the 2 cores' 200%`;
    };
    out.push({
      target: `capacity: largest N recorded with zero loss and server event-loop p99 < ${CAPACITY_EVENT_LOOP_P99_MS} ms`,
      status: best ? 'met' : 'missed',
      detail:
        (best
          ? `N=${best.n}: loss 0, event-loop p99 ≤ ${Math.max(...windowsOf(best).map((w) => w.eventLoopP99Ms))} ms; ${limit(best)}`
          : 'no size fits') +
        (above
          ? `. Next size N=${above.n} does not fit: loss ${above.totalSent - above.totalRtpReceived}${fwdLoss(above)}, failed ${above.connect.failed}, event-loop p99 up to ${Math.max(...windowsOf(above).map((w) => w.eventLoopP99Ms))} ms; ${limit(above)}`
          : `. No larger size was run: ${best ? `N=${best.n}` : 'the largest'} is a floor, not the limit`),
    });
  }
  // 2. Recording overhead: judged on runs where forwarding used ≥ 20 % of a core (below that the ratio
  // of two small figures is mostly clock-tick and neighbour noise), on the median of the ABAB ratios.
  if (top) {
    const judged = recorded.filter((l) => l.forward.serverCpuPct >= 20);
    const spread = (l: LoadResult) =>
      l.overheadSpreadPct ? ` [${sign(l.overheadSpreadPct.min)}…${sign(l.overheadSpreadPct.max)}]` : '';
    const all = recorded.map((l) => `N=${l.n} ${sign(l.recordingOverheadPct)}%${spread(l)}`).join(', ');
    const ok = judged.filter((l) => l.recordingOverheadPct <= RECORDING_OVERHEAD_TARGET_PCT).length;
    out.push({
      target: `recording adds ≤${RECORDING_OVERHEAD_TARGET_PCT} % server CPU over forwarding`,
      status: judged.length === 0 || (ok > 0 && ok < judged.length) ? 'inconclusive' : ok ? 'met' : 'missed',
      detail: `median of record / mean(neighbouring forward windows) - 1 [min…max]: ${all} (judged on forward ≥ 20 % of a core: ${judged.map((l) => `N=${l.n}`).join(', ') || 'none'}); largest N=${top.n}: ${top.forward.serverCpuPct}% → ${top.record.serverCpuPct}% of a core (median windows)`,
    });
  }
  if (ss) {
    out.push({
      target: `start latency p95 < ${START_P95_TARGET_MS} ms (POST → file with header on disk)`,
      status: ss.startFileMs.p95 < START_P95_TARGET_MS ? 'met' : 'missed',
      detail: `p50 ${ss.startFileMs.p50} ms, p95 ${ss.startFileMs.p95} ms over ${ss.cycles} cycles; first audio cluster p95 ${ss.firstClusterMs.p95} ms (cluster span 2 s)`,
    });
    out.push({
      target: `stop → UPLOADED p95 < ${STOP_P95_TARGET_MS} ms`,
      status: ss.stopUploadedMs.p95 < STOP_P95_TARGET_MS ? 'met' : 'missed',
      detail:
        `short files (~${Math.round(ss.recordMs / 100) / 10} s, ${ss.m} tracks): p50 ${ss.stopUploadedMs.p50} ms, p95 ${ss.stopUploadedMs.p95} ms` +
        (top ? `; under load (N=${top.n}, ${top.meetings} recordings): p95 ${top.stopLatencyMs.p95} ms` : ''),
    });
  }
  if (load.length) {
    // The same target under load: every meeting's recording stopped at once while N publishers send.
    const over = load.filter((l) => l.stopLatencyMs.p95 >= STOP_P95_TARGET_MS);
    out.push({
      target: `stop → UPLOADED p95 < ${STOP_P95_TARGET_MS} ms under load (all recordings stopped at once)`,
      status: over.length === 0 ? 'met' : 'missed',
      detail: load
        .map((l) => `N=${l.n} (${l.meetings} recordings): p95 ${l.stopLatencyMs.p95} ms`)
        .join(', '),
    });
  }
  return out;
}

const sign = (v: number) => (v >= 0 ? `+${v}` : String(v));
const fwdLoss = (l: LoadResult) =>
  l.fanout
    ? `, forwarded ${l.totalRtpForwarded} → subscribers received ${l.totalSubscriberReceived} (forwarding loss ${l.forwardLossPct}%)`
    : '';

function table(head: string[], rows: (string | number)[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export function renderMarkdown(r: BenchResult, resultFile: string): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push('# Benchmarks', '');
  lines.push(
    'Generated by `npm run bench` (bench/src/main.ts); do not edit by hand. Raw numbers: ' +
      `\`${resultFile}\` (gitignored). Method and definitions: see the end of this page.`,
    '',
  );
  lines.push(
    `Machine: ${m.nproc} CPU (${m.cpuModel}), Linux ${m.kernel}, Node ${m.node}, ${m.date}. ` +
      `Sizes: N = ${r.config.n.join(', ')} ${generatorName(r.config.generator)} publishers in meetings of ${r.config.m}, ${r.config.seconds} s windows` +
      `${r.config.quick ? ' (--quick)' : ''}; ${r.config.cycles} start/stop cycles. Whole run: ${r.durationSec} s.`,
    '',
  );
  lines.push('## Targets', '');
  lines.push(
    table(
      ['target', 'status', 'measured'],
      r.targets.map((t) => [t.target, `**${t.status}**`, t.detail]),
    ),
    '',
  );
  if (r.failures?.length) {
    lines.push('## Sizes that failed', '');
    for (const f of r.failures) lines.push(`- N=${f.n}: ${f.error}`);
    lines.push('');
  }
  if (r.notes) lines.push(r.notes, '');
  lines.push('## Forwarding vs recording (same publishers, alternating windows)', '');
  lines.push(
    '**fan-out**: every publisher also subscribes to the other members of its meeting (meetings of ' +
      `${r.config.m}: each receives ${r.config.m - 1} streams) and counts what arrives, so the forward windows ` +
      'are real forwarding. **ingest only**: the publishers ignore `subscribe`, so the SFU forwards nothing ' +
      '(rtpForwarded 0); that is publish + (optionally) record, without fan-out.',
    '',
  );
  const both = r.load.filter((l) => l.fanout).filter((f) => r.load.some((i) => !i.fanout && i.n === f.n));
  if (both.length) {
    lines.push('### Fan-out next to ingest only (same N; median windows, overhead median [min…max])', '');
    lines.push(
      table(
        [
          'N',
          'mode',
          'forward CPU %',
          'record CPU %',
          'recording overhead',
          'generator CPU % (busiest)',
          'generator lag p99 ms',
        ],
        both.flatMap((f) =>
          [f, ...r.load.filter((i) => !i.fanout && i.n === f.n)].map((l) => [
            l.n,
            modeOf(l),
            l.forward.serverCpuPct,
            l.record.serverCpuPct,
            `${sign(l.recordingOverheadPct)}%${l.overheadSpreadPct ? ` [${sign(l.overheadSpreadPct.min)}…${sign(l.overheadSpreadPct.max)}]` : ''}`,
            `${l.record.generatorCpuPct} (${l.record.generatorMaxWorkerCpuPct ?? l.record.generatorCpuPct})`,
            l.record.generatorEventLoopP99Ms,
          ]),
        ),
      ),
      '',
    );
  }
  const rows: (string | number)[][] = [];
  for (const l of r.load) {
    const ws = l.windows?.map((x, i) => [`${x.scenario} ${i + 1}`, x.w] as const) ?? [
      ['forward', l.forward] as const,
      ['record', l.record] as const,
    ];
    for (const [name, w] of ws) {
      rows.push([
        l.n,
        modeOf(l),
        name,
        w.activeTrackRecordings,
        w.serverCpuPct,
        `${w.generatorCpuPct}${w.generatorMaxWorkerCpuPct !== undefined && l.workers && l.workers > 1 ? ` (max ${w.generatorMaxWorkerCpuPct})` : ''}${w.generatorBound ? ' ⚠' : ''}`,
        `${w.generatorEventLoopP99Ms}${w.generatorLagging || (w.generatorLagging === undefined && w.generatorEventLoopP99Ms > 20) ? ' ⚠' : ''}`,
        w.machineBusyPct,
        w.eventLoopP99Ms,
        w.rssMb,
        w.sent,
        w.rtpReceived,
        w.rtpForwarded,
        l.fanout ? (w.subscriberReceived ?? '') : '–',
      ]);
    }
  }
  lines.push(
    table(
      [
        'N',
        'mode',
        'scenario',
        'active recordings (meetings)',
        'server CPU % of 1 core',
        'generator CPU % (busiest process)',
        'generator lag p99 ms',
        'machine busy % (all cores)',
        'server event-loop p99 ms',
        'RSS MB',
        'sent (window)',
        'rtpReceived (window)',
        'rtpForwarded (window)',
        'received by subscribers (window)',
      ],
      rows,
    ),
    '',
  );
  lines.push(
    '⚠ on generator CPU = generator-bound (its busiest process ≥ 85 % of a core): the generator, not the server, limits N. ' +
      '⚠ on generator lag = its event loop lagged > 20 ms p99 (usually other load on the shared box): ' +
      'packets left in bursts rather than every 20 ms.',
    '',
  );
  lines.push('## Loss, overhead, stop latency and file checks per run', '');
  lines.push(
    table(
      [
        'N',
        'mode',
        'meetings',
        'connected/failed',
        'subscriptions up/expected (failed)',
        'recording overhead median [min…max] (pairs)',
        'sent total',
        'rtpReceived total',
        'loss',
        'rtpForwarded total',
        'subscribers received total',
        'forwarding loss',
        'silent subscriptions',
        'manifest received/lost',
        'stop→UPLOADED p50/p95 ms',
        'start all at once: POST→200 / headers on disk p95 ms',
        'files',
        'invalid',
        'frame mismatch',
        'duration off (>40 ms)',
        'max duration error ms',
      ],
      r.load.map((l) => [
        l.n,
        modeOf(l),
        l.meetings,
        `${l.connect.connected}/${l.connect.failed}`,
        l.subscriptions
          ? `${l.subscriptions.up}/${l.subscriptions.expected} (${l.subscriptions.failed})`
          : '–',
        `${sign(l.recordingOverheadPct)}%${l.overheadSpreadPct ? ` [${sign(l.overheadSpreadPct.min)}…${sign(l.overheadSpreadPct.max)}] (${l.overheadSpreadPct.n})` : ''}`,
        l.totalSent,
        l.totalRtpReceived,
        `${l.totalLossPct}%`,
        l.fanout ? (l.totalRtpForwarded ?? '') : '–',
        l.fanout ? (l.totalSubscriberReceived ?? '') : '–',
        l.fanout ? `${l.forwardLossPct}%` : '–',
        l.fanout ? (l.silentSubscriptions ?? '') : '–',
        `${l.correctness.manifestReceived}/${l.correctness.manifestLost}`,
        `${l.stopLatencyMs.p50}/${l.stopLatencyMs.p95}`,
        l.startHttpMs ? `${l.startHttpMs.p95} / ${l.startFileMs?.p95 ?? '–'}` : '–',
        l.correctness.files,
        l.correctness.invalid,
        l.correctness.frameMismatch,
        l.correctness.durationOff,
        l.correctness.maxDurationErrorMs,
      ]),
    ),
    '',
  );
  if (r.startStop) {
    const s = r.startStop;
    lines.push(`## Start / stop latency (one meeting of ${s.m} publishing peers, otherwise idle server)`, '');
    lines.push(
      table(
        ['measure', 'p50 ms', 'p95 ms', 'max ms', 'n'],
        [
          [
            'POST /recordings/track → 200',
            s.startHttpMs.p50,
            s.startHttpMs.p95,
            s.startHttpMs.max,
            s.startHttpMs.count,
          ],
          [
            `POST → first .webm on disk with header (${s.headerBytes} B)`,
            s.startFileMs.p50,
            s.startFileMs.p95,
            s.startFileMs.max,
            s.startFileMs.count,
          ],
          [
            'POST → first cluster on disk (file grows)',
            s.firstClusterMs.p50,
            s.firstClusterMs.p95,
            s.firstClusterMs.max,
            s.firstClusterMs.count,
          ],
          [
            `PUT stop → UPLOADED (~${Math.round(s.recordMs / 100) / 10} s files)`,
            s.stopUploadedMs.p50,
            s.stopUploadedMs.p95,
            s.stopUploadedMs.max,
            s.stopUploadedMs.count,
          ],
        ],
      ),
      '',
    );
    lines.push(
      `Files: ${s.correctness.files}, invalid ${s.correctness.invalid}, frame mismatch ${s.correctness.frameMismatch}, ` +
        `duration off ${s.correctness.durationOff} (max error ${s.correctness.maxDurationErrorMs} ms).`,
      '',
    );
  }
  const problems = [
    ...r.load.flatMap((l) => l.correctness.problems),
    ...(r.startStop?.correctness.problems ?? []),
  ];
  if (problems.length) {
    lines.push('## Problems found', '', ...problems.slice(0, 20).map((p) => `- ${p}`), '');
  }
  lines.push(METHOD);
  return lines.join('\n');
}

const METHOD = `## Method

Run: \`unshare -n bash -c 'ip link set lo up && cd /work/main && npm run bench -- --n 25,50,75,100 --seconds 6 --pairs 3'\`
(fan-out, the default) and \`… --n 100,200,300,400,500 --seconds 6 --pairs 3 --fanout off\` (ingest only);
this page: both results, \`--render <ingest.json>,<fan-out.json> --notes bench/FINDINGS.md\` (load runs
concatenated, start/stop from the last file); each run takes under 10 minutes on the 2-core box.
(\`--quick\` = N 10, 5 s windows, 5 cycles; \`--m\` meeting size, default 5; \`--cycles\` start/stop cycles;
\`--no-docs\` leaves this page alone; \`--render <result.json>\` re-renders this page from a saved result).
All traffic is on 127.0.0.1 inside a fresh network namespace.

- **Server**: the real server (\`packages/server/src/main.ts\` via tsx, LOG_LEVEL=warn), a fresh process and
  DATA_DIR per scenario and size.
- **Load generator**: \`--workers\` (default 2) separate Node processes (\`bench/src/load-worker.ts\`, IPC)
  holding N publishers between them, each sending a real Opus 440 Hz sine (ffmpeg libopus,
  48 kbit/s CBR, 20 ms frames) at real pace. \`--generator ndc\` (the default): node-datachannel
  publishers (libdatachannel: ICE, DTLS and SRTP in native threads; all publishers of a process on one
  5 ms packet clock; a sender report per second); \`--generator werift\`: werift publishers (pure
  TypeScript, a 5 ms timer each), about three times the CPU per packet; the intro line says which. All publishers connect first (8 at a time in all), and only
  then start sending. Its CPU (sum over processes, and the busiest one) and event-loop lag (worst
  process) are measured; a run where a process used ≥ 85 % of a core or lagged > 20 ms p99 is flagged
  (⚠), and then the server figures are a floor, not a capacity. Before any window, the server must
  receive ≥ 80 % of the expected 50 packets/s per connected publisher, or the size fails.
- **Server settings**: \`--udp-mux on\` (default) sets RTC_UDP_MUX_PORT (ICE UDP mux on one port).
  \`--cpu-prof <dir>\` starts the server with \`--cpu-prof\`; \`bench/src/profile-summary.ts <dir>\`
  summarises the profile (self time by function and by file).
- **Fan-out (\`--fanout on\`, the default)**: every publisher also answers the server's \`subscribe\`
  for each other member of its meeting (a recvonly peer connection of the same stack per remote
  publisher, as a browser does) and counts the RTP that arrives per subscription. All subscriptions must be up before
  anything plays, and the SFU must forward ≥ 80 % of 50 packets/s per subscription. **Forwarding
  loss**: the SFU's \`rtpForwarded\` vs the packets the subscribers received, exact over the whole run
  (publishers stopped first); "silent subscriptions" are subscriptions that were up and received
  nothing. With werift, receiving is the generator's costliest part (SRTP decrypt and RTCP in JS, one
  peer connection per subscription) and limits N well below the ingest-only sizes; node-datachannel
  decrypts natively and hands JS one call per packet. The start/stop
  scenario stays ingest only. **Ingest only (\`--fanout off\`)**: the publishers ignore
  \`subscribe\`, so nothing is forwarded (the runs before fan-out existed are all of this kind).
- **Forward vs record (ABAB…A)**: the same N publishers alternate \`--pairs\` times (default 3) between a
  forward window (no recording) and a record window (a track recording of every meeting started at once, 1 s of
  warm-up, measured, then stopped and checked), ending with a forward window. Each record window is
  compared with the mean of the forward windows before and after it (cancels drift); the overhead is
  the median of those ratios, with min…max as the spread. The tables show every window; the
  "forward"/"record" figures elsewhere are the median window of each kind. At small N both figures are
  a few % of a core and the ratio is mostly noise (clock-tick resolution is 10 ms; the 2 cores are
  shared with other work — see "machine busy").
- **CPU**: utime + stime of the server's whole process tree (all threads; child processes such as
  MEDIA_WORKERS workers are found through their ppid at every sample, reaped ones through cutime/cstime)
  from /proc/<pid>/stat over the window, as % of one core. **Event-loop p99 / RSS**: the server's own \`GET /v1/stats\` (histogram reset at each
  window start). **Loss**: publisher packets handed to their stack vs the SFU's \`rtpReceived\`, exact over
  the whole run (publishers stopped first); per-window counts are read a few ms apart and are
  approximate. Manifest received/lost are the recorder's own counts.
- **Start latency**: one meeting of M publishing peers on an otherwise idle server; each cycle times
  POST /recordings/track → 200, → the first \`.webm\` in \`<DATA_DIR>/recordings/<id>/\` with bytes on disk
  (EBML header + track header; polled every 2 ms, so ±2 ms), and → that file growing (first cluster,
  i.e. first audio on disk; bounded below by the 2 s cluster span). The target is judged on the
  header-on-disk figure, which is when the recording is live; first audio on disk is reported beside it.
- **Stop latency**: PUT stop → GET /recordings/:id shows UPLOADED (polled every 10 ms), for the short
  start/stop files and for the load run's recordings (all meetings stopped at once, under load).
- **File checks** (the recordings of the last record window of each size, and every start/stop cycle): every file named in each manifest (fetched by its signed link) is ffprobed from the
  server's disk: Opus, 48 kHz, finite duration; frames_written - frames_filled must equal received -
  duplicated - late - invalid - ignored - overlapped - after_stop (runs before these were added omitted them);
  after_stop counts packets that reached the recorder after the stop instant; ffprobe duration vs
  manifest, and file_start_ms + duration_ms vs
  the manifest's stop_ms - t0_ms, within 40 ms.
- The server code is the working tree at run time; other engineers' uncommitted changes may be in it.
`;
