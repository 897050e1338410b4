#!/usr/bin/env node
// A live participant without a browser: joins a meeting with a participant token, publishes a
// 440 Hz tone (tone-440hz.opus, looped) over WebRTC (werift) and leaves after --seconds.
//
//   node examples/join-tone.mjs <participant token> [--seconds 60] [--server http://127.0.0.1:8787]
//
// It returns as soon as the participant is in the meeting and its audio is flowing, and keeps
// publishing in the background (the pid is printed; `kill <pid>` makes it leave early). With
// --foreground it stays attached to the terminal instead. The server URL can also come from
// TRACKROOM_URL.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'werift';
import WebSocket from 'ws';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '60' },
    server: { type: 'string', default: process.env.TRACKROOM_URL ?? 'http://127.0.0.1:8787' },
    foreground: { type: 'boolean', default: false },
  },
});
const token = positionals[0];
const seconds = Number(values.seconds);
if (!token || !Number.isFinite(seconds) || seconds <= 0) {
  console.error('usage: node examples/join-tone.mjs <participant token> [--seconds 60] [--server URL]');
  process.exit(2);
}

if (!values.foreground) await detach();
else await publishTone();

/** Runs this script again with --foreground in the background; returns once it is publishing. */
async function detach() {
  const args = [...process.argv.slice(1), '--foreground'];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  const result = await new Promise((resolve) => {
    child.once('message', resolve);
    child.once('exit', (code) => resolve({ error: `the participant process exited (code ${code})` }));
  });
  if (result.error) {
    console.error(`join-tone: ${result.error}`);
    process.exit(1);
  }
  child.unref();
  child.disconnect();
  console.log(`${result.ready} (pid ${child.pid})`);
}

async function publishTone() {
  const report = (m) => (process.send ? process.send(m) : m.ready ? console.log(m.ready) : undefined);
  try {
    const session = await join();
    report({ ready: session.description });
    const stop = () => session.leave().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    setTimeout(stop, seconds * 1000);
  } catch (err) {
    report({ error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}

async function join() {
  const server = new URL(values.server);
  const loopback = ['127.0.0.1', 'localhost'].includes(server.hostname);
  const wsUrl = `${server.protocol === 'https:' ? 'wss' : 'ws'}://${server.host}/ws?authToken=${encodeURIComponent(token)}`;
  const ws = new WebSocket(wsUrl);
  const inbox = [];
  const waiters = new Set();
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    inbox.push(m);
    for (const w of [...waiters]) w(m);
  });
  const next = (type) =>
    new Promise((resolve, reject) => {
      const found = inbox.find((m) => m.type === type || m.type === 'error');
      const done = (m) =>
        m.type === 'error' ? reject(new Error(`server: ${m.code}: ${m.message}`)) : resolve(m);
      if (found) return done(found);
      const timer = setTimeout(() => reject(new Error(`no ${type} from the server within 15 s`)), 15_000);
      const on = (m) => {
        if (m.type !== type && m.type !== 'error') return;
        clearTimeout(timer);
        waiters.delete(on);
        done(m);
      };
      waiters.add(on);
    });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', (e) => reject(new Error(`cannot reach ${wsUrl.split('?')[0]}: ${e.message}`)));
  });
  ws.send(JSON.stringify({ type: 'join', audio: true, video: false }));
  const joined = await next('joined');

  const pc = new RTCPeerConnection({
    codecs: {
      audio: [
        new RTCRtpCodecParameters({
          mimeType: 'audio/opus',
          clockRate: 48000,
          channels: 2,
          payloadType: 111,
        }),
      ],
      video: [],
    },
    ...(loopback
      ? {
          iceInterfaceAddresses: { udp4: '127.0.0.1' },
          iceAdditionalHostAddresses: ['127.0.0.1'],
          iceUseIpv6: false,
        }
      : {}),
  });
  const sender = pc.addTransceiver('audio', { direction: 'sendonly' }).sender;
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((resolve) =>
      pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && resolve()),
    );
  }
  let sdp = pc.localDescription.sdp;
  if (loopback) sdp = sdp.replace(/^a=candidate:(?!.* 127\.0\.0\.1 ).*\r\n/gm, '');
  ws.send(JSON.stringify({ type: 'publishOffer', sdp }));
  await pc.setRemoteDescription({ type: 'answer', sdp: (await next('publishAnswer')).sdp });
  await new Promise((resolve, reject) => {
    if (pc.connectionState === 'connected') return resolve();
    const timer = setTimeout(
      () => reject(new Error('the media connection did not come up within 15 s')),
      15_000,
    );
    pc.connectionStateChange.subscribe((s) => {
      if (s !== 'connected') return;
      clearTimeout(timer);
      resolve();
    });
  });

  // 20 ms Opus frames at real pace, looping the tone; the RTP clock runs on through the loop.
  const frames = oggOpusPackets(readFileSync(new URL('tone-440hz.opus', import.meta.url)));
  const ssrc = (Math.random() * 2 ** 32) >>> 0;
  let seq = Math.floor(Math.random() * 65536);
  let ts = (Math.random() * 2 ** 32) >>> 0;
  let sent = 0;
  const start = performance.now();
  const pace = setInterval(() => {
    const due = Math.floor((performance.now() - start) / 20);
    for (; sent <= due; sent++) {
      const header = new RtpHeader({
        payloadType: 111,
        sequenceNumber: seq,
        timestamp: ts,
        ssrc,
        marker: false,
      });
      sender.sendRtp(new RtpPacket(header, Buffer.from(frames[sent % frames.length]))).catch(() => undefined);
      seq = (seq + 1) & 0xffff;
      ts = (ts + 960) >>> 0;
    }
  }, 5);

  const { self } = joined;
  return {
    description: `${self.name} (${self.customParticipantId}) joined meeting ${joined.meetingId} as peer ${self.peerId}; publishing a 440 Hz tone for ${seconds} s`,
    async leave() {
      clearInterval(pace);
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'leave' }));
      ws.close();
      await pc.close();
    },
  };
}

/** The audio packets of an Ogg Opus file (RFC 7845): pages → lacing → packets, OpusHead/OpusTags skipped. */
function oggOpusPackets(data) {
  const packets = [];
  let partial = [];
  for (let o = 0; o + 27 <= data.length;) {
    if (data.toString('latin1', o, o + 4) !== 'OggS') throw new Error(`not an Ogg page at byte ${o}`);
    const segments = data[o + 26];
    let body = o + 27 + segments;
    for (let i = 0; i < segments; i++) {
      const lace = data[o + 27 + i];
      partial.push(data.subarray(body, body + lace));
      body += lace;
      if (lace < 255) {
        packets.push(Buffer.concat(partial));
        partial = [];
      }
    }
    o = body;
  }
  return packets.slice(2);
}
