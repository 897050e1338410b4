/**
 * One publisher, recorded by trackroom and by Janus, with the same script: the recording starts,
 * 1 s later the publisher starts sending a 440 Hz tone with 5 % of its packets lost (every 20th),
 * 3 s later it pauses for 2 s (the RTP clock runs on, nothing is sent: trackroom's publisher says so
 * with `mediaState`, as its SDK does on mute; Janus's just stops), sends 3 s more, and 0.5 s later
 * the recording stops. The files (trackroom's WebM; Janus's .mjr converted with janus-pp-rec to
 * .opus) are then measured with ffprobe and ffmpeg's silencedetect: duration against the real span
 * (stop - start), where the file starts, and whether the pause is kept as silence.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, OpusPublisher, startServer } from '@trackroom/e2e/support';
import { ffprobe, sineOpusPackets } from '@trackroom/recorder/testing';
import { JanusSession } from './janus/janus-api.js';
import { mjrPackets, toOpus } from './janus/janus-files.js';
import { startJanus } from './janus/janus-process.js';
import { JanusPublisher } from './janus/janus-publisher.js';
import { JanusRooms } from './janus/janus-rooms.js';
import { round, sleep, type RecordingView } from './scenarios.js';

/** The script (ms). */
export const FILE_QUALITY_SCRIPT = {
  leadMs: 1000,
  toneMs: 3000,
  pauseMs: 2000,
  tailMs: 500,
  lossEvery: 20,
} as const;

export interface FileQualityFile {
  peer: 'trackroom' | 'janus';
  file: string;
  /** Recording stop - start, as the bench saw it (ms). */
  realSpanMs: number;
  /** First packet sent → last packet sent (ms). */
  mediaSpanMs: number;
  durationMs: number;
  /** Silences of ≥ 0.3 s below -50 dBFS: [start, end] in ms from the file's start. */
  silences: [number, number][];
  /** Silence at the very start of the file (ms): 0 when the file starts at the first packet. */
  leadingSilenceMs: number;
  /** The longest silence after the start (the 2 s pause, if kept). */
  pauseSilenceMs: number;
  /** Packets sent, and what the server wrote (trackroom: the manifest's received; Janus: packets in the .mjr). */
  sent: number;
  recordedPackets: number;
  /** trackroom only: frames filled with silence or concealment (the manifest). */
  framesFilled?: number;
  fileStartMs?: number;
}

export interface FileQualityResult {
  script: typeof FILE_QUALITY_SCRIPT;
  files: FileQualityFile[];
}

/** Silences in an audio file (ffmpeg silencedetect), in ms. */
export function silences(path: string, noiseDb = -50, minSec = 0.3): [number, number][] {
  const r = spawnSync(
    'ffmpeg',
    [
      '-hide_banner',
      '-nostats',
      '-i',
      path,
      '-af',
      `silencedetect=noise=${noiseDb}dB:d=${minSec}`,
      '-f',
      'null',
      '-',
    ],
    { encoding: 'utf8' },
  );
  if (r.error) throw new Error(`ffmpeg could not run: ${r.error.message}`);
  const out: [number, number][] = [];
  let start: number | undefined;
  for (const l of r.stderr.split('\n')) {
    const s = /silence_start: (-?[\d.]+)/.exec(l);
    const e = /silence_end: ([\d.]+)/.exec(l);
    if (s) start = Math.max(0, Number(s[1]));
    if (e && start !== undefined) {
      out.push([round(start * 1000, 0), round(Number(e[1]) * 1000, 0)]);
      start = undefined;
    }
  }
  if (start !== undefined) out.push([round(start * 1000, 0), round(ffprobe(path).durationSec * 1000, 0)]);
  return out;
}

function describe(
  base: Omit<FileQualityFile, 'durationMs' | 'silences' | 'leadingSilenceMs' | 'pauseSilenceMs'>,
  path: string,
): FileQualityFile {
  const s = silences(path);
  const lead = s.find(([a]) => a <= 20);
  const rest = s.filter((x) => x !== lead).map(([a, b]) => b - a);
  return {
    ...base,
    durationMs: round(ffprobe(path).durationSec * 1000, 0),
    silences: s,
    leadingSilenceMs: lead ? lead[1] - lead[0] : 0,
    pauseSilenceMs: rest.length ? Math.max(...rest) : 0,
  };
}

/** Runs the script against something that can pause; resolves with the sending span. */
async function script(p: { play: () => void; pause: (on: boolean) => void; stop: () => void }) {
  const S = FILE_QUALITY_SCRIPT;
  await sleep(S.leadMs);
  const first = performance.now();
  p.play();
  await sleep(S.toneMs);
  p.pause(true);
  await sleep(S.pauseMs);
  p.pause(false);
  await sleep(S.toneMs);
  p.stop();
  const last = performance.now();
  await sleep(S.tailMs);
  return round(last - first, 0);
}

const drop = (i: number) => i % FILE_QUALITY_SCRIPT.lossEvery === FILE_QUALITY_SCRIPT.lossEvery / 2;

async function trackroomFile(packets: Uint8Array[]): Promise<FileQualityFile> {
  const server = await startServer({ env: { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn' } });
  let pub: OpusPublisher | undefined;
  try {
    const call = api(server);
    const m = await call<{ data: { id: string } }>('POST', '/meetings', { title: 'file quality' });
    const p = await call<{ data: { token: string } }>('POST', `/meetings/${m.json.data.id}/participants`, {
      custom_participant_id: 'fq',
      preset_name: 'group_call_host',
      name: 'fq',
    });
    pub = await OpusPublisher.connect(`${server.wsUrl}?authToken=${p.json.data.token}`);
    await pub.join();
    await pub.publish();
    const t0 = performance.now();
    const r = await call<{ data: { recording: { id: string } } }>('POST', '/recordings/track', {
      meeting_id: m.json.data.id,
    });
    if (r.status !== 200) throw new Error(`start recording: ${r.status} ${JSON.stringify(r.json)}`);
    const id = r.json.data.recording.id;
    const mediaSpanMs = await script({
      play: () => pub!.play(packets, drop),
      pause: (on) => pub!.setAudioEnabled(!on),
      stop: () => pub!.stopPlaying(),
    });
    const s = await call('PUT', `/recordings/${id}`, { action: 'stop' });
    const realSpanMs = round(performance.now() - t0, 0);
    if (s.status !== 200) throw new Error(`stop recording: ${s.status}`);
    let view: RecordingView | undefined;
    for (let k = 0; k < 1000 && view?.status !== 'UPLOADED'; k++) {
      view = (await call<{ data: RecordingView }>('GET', `/recordings/${id}`)).json.data;
      await sleep(10);
    }
    const url = view?.download_url?.[0]?.download_urls['manifest.json']?.download_url;
    if (!url) throw new Error(`recording ${id}: no manifest (${view?.status})`);
    const manifest = (await (await fetch(url)).json()) as {
      files: {
        file_name: string;
        file_start_ms: number;
        frames_filled: number;
        packets: { received: number };
      }[];
    };
    const f = manifest.files[0]!;
    return describe(
      {
        peer: 'trackroom',
        file: f.file_name,
        realSpanMs,
        mediaSpanMs,
        sent: pub.sent,
        recordedPackets: f.packets.received,
        framesFilled: f.frames_filled,
        fileStartMs: f.file_start_ms,
      },
      join(server.dataDir, 'recordings', id, f.file_name),
    );
  } finally {
    await pub?.leave();
    await server.stop();
  }
}

async function janusFile(
  packets: Uint8Array[],
  net: { iface: string; address: string },
): Promise<FileQualityFile> {
  const janus = await startJanus({ iceInterface: net.iface });
  const admin = await JanusSession.create(janus.url);
  const session = await JanusSession.create(janus.url);
  let pub: JanusPublisher | undefined;
  try {
    const rooms = await JanusRooms.open(admin, janus.recDir);
    const [room] = await rooms.create(1, 2, 7000);
    pub = await JanusPublisher.connect(session, room!, { address: net.address, display: 'fq' });
    const t0 = performance.now();
    await rooms.setRecording(room!, true);
    const mediaSpanMs = await script({
      play: () => pub!.play(packets, drop),
      pause: (on) => pub!.setSending(!on),
      stop: () => pub!.stopPlaying(),
    });
    await rooms.setRecording(room!, false);
    const realSpanMs = round(performance.now() - t0, 0);
    await sleep(300);
    const mjr = readdirSync(janus.recDir).find((f) => f.endsWith('.mjr'));
    if (!mjr) throw new Error('janus wrote no .mjr');
    const path = join(janus.recDir, mjr);
    const { out } = toOpus(path);
    return describe(
      {
        peer: 'janus',
        file: mjr,
        realSpanMs,
        mediaSpanMs,
        sent: pub.sent,
        recordedPackets: mjrPackets(path),
      },
      out,
    );
  } finally {
    await pub?.leave();
    await session.close();
    await admin.close();
    await janus.stop();
  }
}

export async function runFileQuality(o: {
  peers: ('trackroom' | 'janus')[];
  net?: { iface: string; address: string };
  log: (s: string) => void;
}): Promise<FileQualityResult> {
  const packets = sineOpusPackets({
    dir: mkdtempSync(join(tmpdir(), 'bench-fq-')),
    frequency: 440,
    seconds: 4,
    channels: 1,
  });
  const files: FileQualityFile[] = [];
  for (const peer of o.peers) {
    o.log(`file quality: ${peer}`);
    if (peer === 'trackroom') files.push(await trackroomFile(packets));
    else {
      if (!o.net) throw new Error('file quality with janus needs the bench interface');
      files.push(await janusFile(packets, o.net));
    }
    const f = files[files.length - 1]!;
    o.log(
      `  ${peer}: ${f.durationMs} ms for a real span of ${f.realSpanMs} ms; leading silence ${f.leadingSilenceMs} ms, pause kept ${f.pauseSilenceMs} ms; ${f.recordedPackets} of ${f.sent} packets`,
    );
  }
  return { script: FILE_QUALITY_SCRIPT, files };
}
