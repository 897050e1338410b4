/**
 * Real Chromium for end-to-end tests: Debian's /usr/bin/chromium driven by playwright-core, with a
 * fake microphone playing a WAV file (so each browser can send its own tone) and loopback ICE allowed.
 * Run inside a network namespace that has only `lo` (see scripts/test.sh).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Writes a mono 16-bit PCM WAV of a sine tone and returns its path. */
export function writeSineWav(
  freqHz: number,
  opts: {
    seconds?: number;
    sampleRate?: number;
    amplitude?: number;
    dir?: string;
    /** Tone bursts: `onMs` of tone, then `offMs` of digital silence, repeated from the start. */
    gate?: { onMs: number; offMs: number };
  } = {},
): string {
  const rate = opts.sampleRate ?? 48_000;
  const n = Math.round(rate * (opts.seconds ?? 10));
  const amp = Math.round(32767 * (opts.amplitude ?? 0.5));
  const data = Buffer.alloc(n * 2);
  const gate = opts.gate;
  const period = gate ? ((gate.onMs + gate.offMs) * rate) / 1000 : 0;
  const on = gate ? (gate.onMs * rate) / 1000 : 0;
  for (let i = 0; i < n; i++) {
    const silent = gate !== undefined && i % period >= on;
    data.writeInt16LE(silent ? 0 : Math.round(amp * Math.sin((2 * Math.PI * freqHz * i) / rate)), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'trackroom-wav-'));
  const file = join(dir, gate ? `sine-${freqHz}-${gate.onMs}-${gate.offMs}.wav` : `sine-${freqHz}.wav`);
  writeFileSync(file, Buffer.concat([header, data]));
  return file;
}

export interface LaunchOptions {
  /** WAV the fake microphone plays (looped). Without it Chromium's fake device beeps. */
  audioWav?: string;
  /** `deny`: every camera/microphone prompt is refused, as when a user blocks the site. Default `accept`. */
  mediaPrompts?: 'accept' | 'deny';
  extraArgs?: string[];
  /** The browser binary to run instead of {@link CHROMIUM_PATH} (e.g. a wrapper that enters a netns). */
  executablePath?: string;
}

/** Launches Debian Chromium headless with a fake camera and microphone. Throws when it is missing. */
export async function launchChromium(opts: LaunchOptions = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(`Chromium not found at ${CHROMIUM_PATH} (apt-get install chromium)`);
  const args = [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--allow-loopback-in-peer-connection',
    opts.mediaPrompts === 'deny' ? '--deny-permission-prompts' : '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    '--autoplay-policy=no-user-gesture-required',
    // Keep real host candidates (127.0.0.1) rather than mDNS names nobody can resolve in the namespace.
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    ...(opts.audioWav ? [`--use-file-for-fake-audio-capture=${opts.audioWav}`] : []),
    ...(opts.extraArgs ?? []),
  ];
  // playwright's launch uses a fresh temporary user-data-dir each time.
  return chromium.launch({ executablePath: opts.executablePath ?? CHROMIUM_PATH, args, timeout: 30_000 });
}

/**
 * Closes a browser, waiting at most `timeoutMs`: Chromium now and then never answers the close
 * (seen with fake audio capture running), which left a test file's `after` waiting until the file's
 * timeout with its server and browsers alive. Playwright kills what it launched when the process exits.
 */
export async function closeBrowser(b: Browser | undefined, timeoutMs = 10_000): Promise<void> {
  if (!b) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    b.close().catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
  ]);
  clearTimeout(timer);
}

/**
 * Opens a page and collects its console output (for failure messages). `initScript` (source text)
 * runs in the page before its own scripts.
 */
export async function openPage(
  browser: Browser,
  url: string,
  initScript?: string,
): Promise<{ page: Page; logs: string[] }> {
  const page = await browser.newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  if (initScript !== undefined) await page.addInitScript({ content: initScript });
  await page.goto(url);
  return { page, logs };
}

/**
 * Polls `fn` inside the page until it returns a truthy value, then returns that value. `fn` runs in
 * the browser (serialised by playwright), so it may read `window.__trackroom`.
 */
export async function waitInPage<T, A>(
  page: Page,
  fn: (arg: A) => T | Promise<T>,
  arg: A,
  opts: { timeoutMs?: number; what?: string; logs?: string[] } = {},
): Promise<NonNullable<T>> {
  try {
    const handle = await page.waitForFunction(fn as (arg: unknown) => T | Promise<T>, arg as unknown, {
      timeout: opts.timeoutMs ?? 20_000,
      polling: 100,
    });
    return (await handle.jsonValue()) as NonNullable<T>;
  } catch (err) {
    const tail = opts.logs ? `\npage console (last 30):\n${opts.logs.slice(-30).join('\n')}` : '';
    throw new Error(`timed out waiting for ${opts.what ?? 'page state'}: ${String(err)}${tail}`, {
      cause: err,
    });
  }
}
