/** Starts Janus as a child process with the bench's configuration and waits for its HTTP API. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@trackroom/e2e/support';
import { writeJanusConfig } from './janus-config.js';

export interface JanusProcess {
  proc: ChildProcess;
  pid: number;
  /** HTTP API base, e.g. http://127.0.0.1:PORT/janus */
  url: string;
  /** Where rooms made by the bench record (`rec_dir`). */
  recDir: string;
  dir: string;
  output(): string;
  stop(): Promise<void>;
}

export interface StartJanusOptions {
  iceInterface: string;
  rtpPorts?: [number, number];
  timeoutMs?: number;
}

export async function startJanus(o: StartJanusOptions): Promise<JanusProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'trackroom-bench-janus-'));
  const recDir = join(dir, 'recordings');
  mkdirSync(recDir);
  const httpPort = await freePort();
  const config = writeJanusConfig({
    dir: join(dir, 'conf'),
    httpPort,
    iceInterface: o.iceInterface,
    rtpPorts: o.rtpPorts ?? [20000, 39999],
  });
  const proc = spawn('janus', ['-C', config, '-F', join(dir, 'conf'), '-o'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out += String(d);
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const url = `http://127.0.0.1:${httpPort}/janus`;
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  const end = performance.now() + (o.timeoutMs ?? 15_000);
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`janus exited (${proc.exitCode}): ${out.slice(-2000)}`);
    try {
      const r = await fetch(`${url}/info`);
      if (r.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (performance.now() > end) {
      await stop();
      throw new Error(`janus HTTP API not up within ${o.timeoutMs ?? 15_000} ms: ${out.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, pid: proc.pid!, url, recDir, dir, output: () => out, stop };
}
