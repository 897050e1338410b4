/**
 * The benchmark's node-datachannel load publisher against the real server: it joins through the
 * real signalling, publishes, sends at real pace on the one shared packet clock, subscribes with
 * fan-out, and every packet it says it sent is counted by the server (and every packet the server
 * forwarded reaches its subscriptions). Leaving ends its sessions on the server.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import {
  NdcOpusPublisher,
  api,
  sharedPacketClock,
  startServer,
  type ServerProcess,
} from './support/index.js';

let server: ServerProcess;

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

interface SfuFigures {
  peers: number;
  rtpReceived: number;
  rtpForwarded: number;
}

/** The SFU counters, summed over media workers when the server lists them per worker. */
async function sfu(): Promise<SfuFigures> {
  const res = await fetch(`${server.baseUrl}/v1/stats`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  assert.equal(res.status, 200);
  const d = (
    (await res.json()) as { data: { media: { sfu?: SfuFigures; workers?: { sfu?: SfuFigures }[] } } }
  ).data;
  if (d.media.sfu) return d.media.sfu;
  const ws = d.media.workers ?? [];
  const sum = (k: keyof SfuFigures) => ws.reduce((a, w) => a + (w.sfu?.[k] ?? 0), 0);
  return { peers: sum('peers'), rtpReceived: sum('rtpReceived'), rtpForwarded: sum('rtpForwarded') };
}

const until = async <T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

test('ndc publishers publish, fan out and leave through the real signalling, with exact counts', async () => {
  const call = api(server);
  const meeting = await call<{ data: { id: string } }>('POST', '/meetings', { title: 'ndc' });
  assert.equal(meeting.status, 201);
  const pubs: NdcOpusPublisher[] = [];
  try {
    for (let j = 0; j < 3; j++) {
      const p = await call<{ data: { token: string } }>(
        'POST',
        `/meetings/${meeting.json.data.id}/participants`,
        {
          custom_participant_id: `ndc-${j}`,
          preset_name: 'group_call_host',
          name: `ndc ${j}`,
        },
      );
      assert.equal(p.status, 201);
      const pub = await NdcOpusPublisher.connect(`${server.wsUrl}?authToken=${p.json.data.token}`, {
        subscribe: true,
      });
      pubs.push(pub);
      await pub.join();
      await pub.publish();
    }
    // Everyone subscribed to the two others (offers for later publishers arrive later).
    for (const p of pubs) {
      for (const q of pubs) if (q !== p) await p.waitFor('subscribe', (m) => m.peerId === q.peerId);
      await p.settled();
      assert.deepEqual(p.subscribeErrors, []);
      assert.equal(p.subscribed, 2, 'two subscriptions up');
    }

    const packets = sineOpusPackets({ dir: server.dataDir, frequency: 440, seconds: 2, channels: 1 });
    const before = await sfu();
    const early: string[] = [];
    const paced = pubs.map(
      (p) =>
        new Promise<void>((resolve) =>
          p.play(packets, undefined, {
            onSent: (i, dueMs, sentMs) => {
              // Real pace: frame i goes out at its time, never ahead (checked below: a throw here
              // would only be counted by the clock).
              if (sentMs < dueMs - 1) early.push(`frame ${i} sent ${dueMs - sentMs} ms early`);
              if (i === 60) resolve();
            },
          }),
        ),
    );
    assert.equal(sharedPacketClock().size, 3, 'the three publishers share one clock');
    await Promise.all(paced);
    assert.deepEqual(early, []);
    assert.equal(sharedPacketClock().errors, 0);
    for (const p of pubs) p.stopPlaying();
    assert.equal(sharedPacketClock().size, 0);
    const sent = pubs.reduce((a, p) => a + p.sent, 0);
    assert.ok(sent >= 3 * 61, `sent ${sent}`);
    assert.equal(
      pubs.reduce((a, p) => a + p.refused, 0),
      0,
    );

    // Loopback loses nothing: the server counts every packet sent, and the subscriptions receive
    // every packet it forwarded (each packet to the two others).
    const s = await until('the server to count every packet', async () => {
      const x = await sfu();
      return x.rtpReceived - before.rtpReceived >= sent ? x : undefined;
    });
    assert.equal(s.rtpReceived - before.rtpReceived, sent);
    const forwarded = s.rtpForwarded - before.rtpForwarded;
    assert.equal(forwarded, 2 * sent);
    await until('the subscriptions to receive every forwarded packet', () =>
      Promise.resolve(pubs.reduce((a, p) => a + p.received, 0) >= forwarded ? true : undefined),
    );
    assert.equal(
      pubs.reduce((a, p) => a + p.received, 0),
      forwarded,
    );
    for (const p of pubs) for (const n of p.receivedBySubscription.values()) assert.ok(n > 0);

    // Playing again continues the same stream: the server's count goes on from where it was.
    await new Promise<void>((resolve) =>
      pubs[0]!.play(packets, undefined, { onSent: (i) => i === 20 && resolve() }),
    );
    pubs[0]!.stopPlaying();
    const total = pubs.reduce((a, p) => a + p.sent, 0);
    assert.ok(total >= sent + 21);
    await until('the second play counted', async () =>
      (await sfu()).rtpReceived - before.rtpReceived >= total ? true : undefined,
    );
    assert.equal((await sfu()).rtpReceived - before.rtpReceived, total);
  } finally {
    for (const p of pubs) await p.leave();
  }
  await until('the server to see everyone gone', async () => ((await sfu()).peers === 0 ? true : undefined));
});
