/**
 * The README's quick start, run as a new user would: `bash scripts/start.sh` (the fast path, with
 * `--no-install`: the test namespace has no registry), then every `sh` block of README.md's "Using it"
 * section pasted in order into one bash (curl, jq and examples/join-tone.mjs against that server),
 * then examples/official-client.mjs. Each run is checked by its output and by the server's state:
 * meetings, participants, recordings of only the people the walkthrough created, and a downloaded
 * WebM that holds the 440 Hz tone.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeMono, ffprobe } from '@trackroom/recorder/testing';
import { freePort } from './support/server-process.js';
import { strongest } from './support/tone.js';

const root = new URL('../../', import.meta.url).pathname;
const README_URL = 'http://127.0.0.1:8787';

/** The fenced blocks of one README section, by language. */
function readmeBlocks(section: string, lang: string): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${section}\n`);
  assert.ok(start >= 0, `README.md has a "## ${section}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  const body = readme.slice(start, end < 0 ? undefined : end);
  return [...body.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] as string);
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (an event, not a timer, ends the wait). */
function runToEnd(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The pids join-tone.mjs printed (its background publishers), to end them after the test. */
const publisherPids = (out: string) =>
  [...out.matchAll(/publishing a 440 Hz tone .*\(pid (\d+)\)/g)].map((m) => Number(m[1]));

function assertTone(file: string, what: string): void {
  const probe = ffprobe(file);
  assert.equal(probe.codecName, 'opus', `${what}: ${JSON.stringify(probe)}`);
  assert.equal(probe.sampleRate, 48_000);
  const { samples, status, stderr } = decodeMono(file);
  assert.equal(status, 0, stderr);
  const seconds = samples.length / 48_000;
  assert.ok(seconds >= 2, `${what}: ${seconds} s of audio for a recording of 3 s`);
  assert.equal(strongest(samples, 0.5, seconds - 0.2, [330, 440, 523, 660]), 440, `${what} holds the tone`);
}

describe('the README quick start and examples/, run as copied', () => {
  const work = mkdtempSync(join(tmpdir(), 'trackroom-examples-'));
  const dataDir = join(work, 'data');
  let server: ChildProcess;
  let baseUrl = '';
  let banner = '';
  let token = '';
  const pids: number[] = [];

  const admin = async <T = Record<string, unknown>>(path: string): Promise<T> => {
    const res = await fetch(`${baseUrl}/client/v4/accounts/local/realtime/kit${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200, `GET ${path}`);
    return ((await res.json()) as { data: T }).data;
  };

  before(async () => {
    for (const tool of ['curl', 'jq', 'ffprobe', 'ffmpeg']) {
      const r = spawnSync(tool, ['--version'], { stdio: 'ignore' });
      if (r.error) throw new Error(`${tool} is required by the README walkthrough and could not run`);
    }
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    // As on a clean clone: no RTK_API_TOKEN, so the server generates data/api-token.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    };
    delete env.RTK_API_TOKEN;
    server = spawn('bash', ['scripts/start.sh', '--no-install'], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      const on = (d: Buffer) => {
        banner += d.toString();
        if (banner.includes('API docs')) resolve();
      };
      server.stdout!.on('data', on);
      server.stderr!.on('data', on);
      server.once('exit', (code) => reject(new Error(`start.sh exited with ${code}:\n${banner}`)));
    });
    token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim();
    // The walkthrough runs at the repository root; here a copy of that layout: data/ and examples/.
    symlinkSync(join(root, 'examples'), join(work, 'examples'));
  });

  after(async () => {
    for (const pid of pids) {
      // Only a publisher still running: a pid it left behind may belong to another test's process by
      // now (pids are reused; the suite starts thousands of processes), e.g. a server under test.
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue; // already left by itself
      }
      if (!cmdline.includes('join-tone')) continue;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // left in between
      }
    }
    if (server && server.exitCode === null) {
      await new Promise<void>((resolve) => {
        server.once('exit', () => resolve());
        server.kill('SIGTERM');
      });
    }
  });

  it('bash scripts/start.sh prints the banner with the generated token and starts without installing', () => {
    assert.match(banner, /default app: [0-9a-f-]{36}/);
    assert.match(banner, /API token {2}: \S+ {3}\(generated now/);
    assert.ok(banner.includes(token), 'the printed token is the one kept in data/api-token');
    assert.doesNotMatch(banner, /installing/);
  });

  it("runs every sh block of README's Using it section, in order, and records only Alice", async () => {
    const blocks = readmeBlocks('Using it', 'sh').filter(
      (b) => !b.startsWith('node examples/official-client'),
    );
    assert.ok(blocks.length >= 5, `found ${blocks.length} sh blocks`);
    const script = ['set -euo pipefail', ...blocks].join('\n').replaceAll(README_URL, baseUrl);
    writeFileSync(join(work, 'walkthrough.sh'), script);
    // join-tone.mjs defaults to the README's URL too; TRACKROOM_URL points it at the test server.
    const res = await runToEnd('bash', ['walkthrough.sh'], {
      cwd: work,
      env: { ...process.env, TRACKROOM_URL: baseUrl },
    });
    pids.push(...publisherPids(res.stdout));
    assert.equal(res.code, 0, `walkthrough failed:\n${res.stdout}\n${res.stderr}\n--- script:\n${script}`);
    assert.doesNotMatch(res.stdout, /\bnull\b/, res.stdout);
    assert.equal(pids.length, 1, res.stdout);

    const meeting = /^meeting ([0-9a-f-]{36}), join page (\S+)$/m.exec(res.stdout);
    assert.ok(meeting, res.stdout);
    const meetingId = meeting[1] as string;
    assert.ok(meeting[2]?.startsWith(`${baseUrl}/join?authToken=ey`));
    assert.match(res.stdout, /^UPLOADED$/m, 'the stop answer is final');
    assert.match(res.stdout, /^manifest\.json {2}http:\/\/\S+\/v1\/downloads\/\S+sig=/m);

    // The server's state: one meeting with Alice, one track recording of Alice alone.
    const m = await admin<{ title: string }>(`/${await defaultApp()}/meetings/${meetingId}`);
    assert.equal(m.title, 'standup');
    const recs = await admin<Array<{ id: string; status: string; meeting_id: string }>>(
      `/${await defaultApp()}/recordings?meeting_id=${meetingId}`,
    );
    assert.equal(recs.length, 1);
    assert.equal(recs[0]?.status, 'UPLOADED');
    const manifest = (await (
      await fetch(manifestLink(await admin(`/${await defaultApp()}/recordings/${recs[0]?.id}`)))
    ).json()) as { files: Array<{ custom_participant_id?: string; user_id?: string }> };
    assert.equal(manifest.files.length, 1, JSON.stringify(manifest));

    // data/alice.webm, downloaded by the last block, is the tone.
    assert.ok(existsSync(join(dataDir, 'alice.webm')), res.stdout);
    assertTone(join(dataDir, 'alice.webm'), 'alice.webm');
  });

  it('runs examples/official-client.mjs as the README shows it; its js excerpts are in the file', async () => {
    const file = readFileSync(join(root, 'examples', 'official-client.mjs'), 'utf8');
    const excerpts = readmeBlocks('Using it', 'js');
    assert.ok(excerpts.length >= 1);
    for (const e of excerpts)
      assert.ok(file.includes(e.trim()), `not in examples/official-client.mjs:\n${e}`);
    const [command] = readmeBlocks('Using it', 'sh').filter((b) =>
      b.startsWith('node examples/official-client'),
    );
    assert.equal(command?.trim(), 'node examples/official-client.mjs');

    // As the README says: the token from data/api-token (cwd), the server from TRACKROOM_URL.
    const env: NodeJS.ProcessEnv = { ...process.env, TRACKROOM_URL: baseUrl };
    delete env.RTK_API_TOKEN;
    const res = await runToEnd(process.execPath, ['examples/official-client.mjs'], { cwd: work, env });
    pids.push(...publisherPids(res.stdout));
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const field = (name: string) => new RegExp(`^${name} +(\\S+)`, 'm').exec(res.stdout)?.[1];
    assert.equal(field('app'), await defaultApp());
    const meetingId = field('meeting') as string;
    const recordingId = field('recording') as string;
    assert.match(res.stdout, /^stopped +UPLOADED after 3 s$/m);
    assert.match(res.stdout, /^left +alice's tone publisher/m);

    const app = await defaultApp();
    const participants = await admin<Array<{ custom_participant_id: string }>>(
      `/${app}/meetings/${meetingId}/participants`,
    );
    assert.deepEqual(
      participants.map((p) => p.custom_participant_id),
      ['alice'],
    );
    const rec = await admin<{ status: string; stop_reason?: { reason: string } }>(
      `/${app}/recordings/${recordingId}`,
    );
    assert.equal(rec.status, 'UPLOADED');
    assert.equal(rec.stop_reason?.reason, 'API_CALL');
    const webm = /^file +(\S+\.webm)\n +(\S+)$/m.exec(res.stdout);
    assert.ok(webm, res.stdout);
    const bytes = new Uint8Array(await (await fetch(webm[2] as string)).arrayBuffer());
    writeFileSync(join(work, 'client.webm'), bytes);
    assertTone(join(work, 'client.webm'), webm[1] as string);
  });

  async function defaultApp(): Promise<string> {
    const id = /default app: ([0-9a-f-]{36})/.exec(banner)?.[1];
    assert.ok(id);
    return id;
  }
});

function manifestLink(rec: Record<string, unknown>): string {
  const layers = rec.download_url as Array<{ download_urls: Record<string, { download_url: string }> }>;
  const link = layers[0]?.download_urls['manifest.json']?.download_url;
  assert.ok(link, JSON.stringify(rec));
  return link;
}
