/**
 * Two real server processes on one machine (different HTTP and UDP ports) sharing one PostgreSQL
 * schema and one Redis: publishers joining through different nodes land on the hosting node (the
 * redirect followed), a track recording started through the other node's API (forwarded over the
 * command bus) records both, is stopped through the first node, webhooks arrive once; the hosting
 * node killed with SIGKILL mid-recording is declared dead by the other, which ends its session with
 * webhooks, and its restart repairs the recording; 200 parallel participant creates over both nodes
 * with the same custom ids make no duplicate and no 5xx.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeMono, ffprobe, sineOpusPackets } from '@trackroom/recorder/testing';
import { OpusPublisher } from './support/opus-publisher.js';
import { startTestCluster, type TestCluster } from './support/cluster.js';
import { api, type ServerProcess } from './support/server-process.js';
import { strongest } from './support/tone.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

const HEARTBEAT_MS = 300;
const DEAD_AFTER_MS = 1500;

type Call = ReturnType<typeof api>;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('two nodes sharing PostgreSQL and Redis', () => {
  let cluster: TestCluster;
  let hooks: WebhookReceiver;
  let nodes: Map<string, ServerProcess>;
  const work = mkdtempSync(join(tmpdir(), 'cluster-e2e-'));
  const startNode = (id: string) => cluster.startNode(id);

  before(async () => {
    cluster = await startTestCluster({ heartbeatMs: HEARTBEAT_MS, deadAfterMs: DEAD_AFTER_MS });
    nodes = cluster.nodes;
    hooks = await startWebhookReceiver();
    // One after the other: the first creates the default app and the shared secrets.
    await startNode('node-a');
    await startNode('node-b');
  });
  after(async () => {
    await hooks?.close();
    await cluster?.stop();
  });

  const node = (id: string) => nodes.get(id) as ServerProcess;
  const call = (id: string): Call => api(node(id));

  it('both nodes list each other; a webhook made on one is shared', async () => {
    const a = node('node-a');
    assert.equal(a.appId, node('node-b').appId, 'one default app');
    await until('both nodes in the registry', async () => {
      const r = await fetch(`${a.baseUrl}/v1/nodes`, { headers: { authorization: `Bearer ${a.token}` } });
      const body = (await r.json()) as { data: { nodes: { node_id: string; public_url: string }[] } };
      return body.data.nodes.length === 2;
    });
    const r = await fetch(`${a.baseUrl}/v1/nodes`, { headers: { authorization: `Bearer ${a.token}` } });
    const body = (await r.json()) as {
      data: {
        clustered: boolean;
        self: string;
        nodes: { node_id: string; public_url: string; draining: boolean }[];
      };
    };
    assert.equal(body.data.clustered, true);
    assert.equal(body.data.self, 'node-a');
    assert.deepEqual(body.data.nodes.map((n) => [n.node_id, n.public_url, n.draining]).sort(), [
      ['node-a', a.baseUrl, false],
      ['node-b', node('node-b').baseUrl, false],
    ]);
    const unauth = await fetch(`${a.baseUrl}/v1/nodes`);
    assert.equal(unauth.status, 401);
    const hook = await call('node-a')('POST', '/webhooks', {
      name: 'cluster',
      url: hooks.url,
      events: [
        'meeting.started',
        'meeting.ended',
        'meeting.participantJoined',
        'meeting.participantLeft',
        'recording.statusUpdate',
      ],
    });
    assert.equal(hook.status, 201, JSON.stringify(hook.json));
  });

  it('publishers joining through different nodes meet on the host; recording through the other node records both', async () => {
    const meeting = (await call('node-a')<{ data: { id: string } }>('POST', '/meetings', { title: 'split' }))
      .json.data;
    const token = async (via: string, custom: string) =>
      (
        await call(via)<{ data: { token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
          custom_participant_id: custom,
          preset_name: 'group_call_host',
        })
      ).json.data.token;
    // Tokens are made on either node and accepted on both: the signing secret is in the shared store.
    const ta = await token('node-b', 'ann');
    const tb = await token('node-a', 'ben');
    const ann = await OpusPublisher.connectAndJoin(`${node('node-a').wsUrl}?authToken=${ta}`);
    const ben = await OpusPublisher.connectAndJoin(`${node('node-b').wsUrl}?authToken=${tb}`);
    const annAt = ann.via.at(-1) as string;
    const benAt = ben.via.at(-1) as string;
    assert.equal(new URL(annAt).host, new URL(benAt).host, `both on one node: ${annAt} vs ${benAt}`);
    assert.equal(ann.via.length + ben.via.length, 3, 'exactly one of them was redirected');
    const hostId = [...nodes].find(([, s]) => new URL(s.baseUrl).host === new URL(annAt).host)?.[0] as string;
    const otherId = hostId === 'node-a' ? 'node-b' : 'node-a';
    assert.ok(
      ben.joined.peers.some((p) => p.customParticipantId === 'ann') ||
        ann.pub.messages.some((m) => m.type === 'peerJoined'),
    );

    await ann.pub.publish();
    await ben.pub.publish();
    ann.pub.play(sineOpusPackets({ dir: work, frequency: 440, seconds: 3, channels: 1 }));
    ben.pub.play(sineOpusPackets({ dir: work, frequency: 660, seconds: 3, channels: 1 }));

    // Started through the node that does not host the meeting: forwarded to the host.
    const started = await call(otherId)<{ data: { recording: { id: string } } }>(
      'POST',
      '/recordings/track',
      {
        meeting_id: meeting.id,
      },
    );
    assert.equal(started.status, 200, JSON.stringify(started.json));
    const recId = started.json.data.recording.id;
    const dir = join(node(hostId).dataDir, 'recordings', recId);
    await until('two growing track files on the host', async () => {
      let files: string[] = [];
      try {
        files = readdirSync(dir).filter((n) => n.endsWith('.webm'));
      } catch {
        return false;
      }
      return files.length === 2 && files.every((f) => statSync(join(dir, f)).size > 12_000);
    });
    // Pausing through the other node is forwarded too; its answer is the host's.
    const paused = await call(otherId)<{ data: { status: string } }>('PUT', `/recordings/${recId}`, {
      action: 'pause',
    });
    assert.equal(paused.status, 200, JSON.stringify(paused.json));
    assert.equal(paused.json.data.status, 'PAUSED');
    const resumed = await call(otherId)<{ data: { status: string } }>('PUT', `/recordings/${recId}`, {
      action: 'resume',
    });
    assert.equal(resumed.json.data.status, 'RECORDING');
    // Stopped through node-a (the host or not: the answer is the same).
    const stop = await call('node-a')<{ data: { status: string } }>('PUT', `/recordings/${recId}`, {
      action: 'stop',
    });
    assert.equal(stop.status, 200, JSON.stringify(stop.json));
    await until('UPLOADED', async () => {
      const r = await call(otherId)<{ data: { status: string } }>('GET', `/recordings/${recId}`);
      return r.json.data.status === 'UPLOADED';
    });
    const webms = readdirSync(dir).filter((n) => n.endsWith('.webm'));
    assert.equal(webms.length, 2, webms.join(', '));
    const heard = webms.map((f) => {
      const path = join(dir, f);
      const probe = ffprobe(path);
      assert.equal(probe.codecName, 'opus');
      assert.ok(Number.isFinite(probe.durationSec) && probe.durationSec > 0.5, `${f}: ${probe.durationSec}s`);
      const { samples, status, stderr } = decodeMono(path);
      assert.equal(status, 0, stderr);
      return strongest(samples, 0.2, Math.min(samples.length / 48000, 1.2), [440, 660]);
    });
    assert.deepEqual(heard.sort(), [440, 660], 'one file per publisher, each with its own tone');
    // The files are on the host's disk (local storage): the links that either node gives point
    // there, and download.
    for (const via of [hostId, otherId]) {
      const rec = await call(via)<{
        data: {
          manifest_url: string;
          download_url: { download_urls: Record<string, { download_url: string }> }[];
        };
      }>('GET', `/recordings/${recId}`);
      const links = [
        rec.json.data.manifest_url,
        ...Object.values(rec.json.data.download_url[0]?.download_urls ?? {}).map((l) => l.download_url),
      ];
      assert.equal(links.length, 4, `manifest, two track files and the manifest again: ${links.join(' ')}`);
      for (const link of links) {
        assert.equal(
          new URL(link).host,
          new URL(node(hostId).baseUrl).host,
          `${via} links to the host: ${link}`,
        );
        const got = await fetch(link);
        assert.equal(got.status, 200, `${via}: ${link}`);
        assert.ok((await got.arrayBuffer()).byteLength > 0);
      }
    }

    // Kick-all through the other node is forwarded to the host and empties the meeting there.
    const kicked = await call(otherId)('POST', `/meetings/${meeting.id}/active-session/kick-all`, {});
    assert.equal(kicked.status, 200, JSON.stringify(kicked.json));
    await Promise.all([ann.pub.waitFor('kicked'), ben.pub.waitFor('kicked')]);
    await Promise.all([ann.pub.leave(), ben.pub.leave()]);

    // Webhooks: each event once, although both nodes run the delivery queue.
    const forMeeting = (event: string) =>
      hooks.deliveries.filter((d) => d.body.event === event && JSON.stringify(d.body).includes(meeting.id));
    await hooks.waitFor(
      (d) => d.body.event === 'recording.statusUpdate' && d.raw.includes('UPLOADED') && d.raw.includes(recId),
    );
    assert.equal(forMeeting('meeting.started').length, 1);
    assert.equal(forMeeting('meeting.participantJoined').length, 2);
    const ids = hooks.deliveries.map((d) => String(d.headers['rtk-uuid']));
    assert.equal(new Set(ids).size, ids.length, 'no delivery was sent twice');
    const statuses = hooks.deliveries
      .filter((d) => d.raw.includes(recId))
      .map((d) => (d.body as { recording?: { status?: string } }).recording?.status);
    assert.equal(statuses.filter((s) => s === 'UPLOADED').length, 1, statuses.join(','));
  });

  it('the hosting node killed mid-recording: the other ends its session with webhooks; its restart repairs the recording', async (t) => {
    const meeting = (await call('node-b')<{ data: { id: string } }>('POST', '/meetings', { title: 'crash' }))
      .json.data;
    const tok = (
      await call('node-b')<{ data: { token: string } }>('POST', `/meetings/${meeting.id}/participants`, {
        custom_participant_id: 'cat',
        preset_name: 'group_call_host',
      })
    ).json.data.token;
    const cat = await OpusPublisher.connectAndJoin(`${node('node-b').wsUrl}?authToken=${tok}`);
    const hostId = [...nodes].find(
      ([, s]) => new URL(s.baseUrl).host === new URL(cat.via.at(-1) as string).host,
    )?.[0] as string;
    const otherId = hostId === 'node-a' ? 'node-b' : 'node-a';
    await cat.pub.publish();
    cat.pub.play(sineOpusPackets({ dir: work, frequency: 523, seconds: 3, channels: 1 }));
    const started = await call(otherId)<{ data: { recording: { id: string } } }>(
      'POST',
      '/recordings/track',
      {
        meeting_id: meeting.id,
      },
    );
    assert.equal(started.status, 200, JSON.stringify(started.json));
    const recId = started.json.data.recording.id;
    const dir = join(node(hostId).dataDir, 'recordings', recId);
    await until('audio on disk', async () => {
      try {
        const f = readdirSync(dir).find((n) => n.endsWith('.webm'));
        return Boolean(f && statSync(join(dir, f)).size > 8_000);
      } catch {
        return false;
      }
    });
    const killedAt = Date.now();
    await node(hostId).stop('SIGKILL');
    nodes.delete(hostId);
    await cat.pub.leave();

    const ended = await hooks.waitFor(
      (d) => d.body.event === 'meeting.ended' && d.raw.includes(meeting.id),
      DEAD_AFTER_MS + 15_000,
    );
    const endedAfterMs = Date.now() - killedAt;
    assert.equal((ended.body as { reason?: string }).reason, 'NODE_LOST');
    const left = await hooks.waitFor(
      (d) => d.body.event === 'meeting.participantLeft' && d.raw.includes(meeting.id),
    );
    assert.ok(left);
    t.diagnostic(
      `meeting.ended received ${endedAfterMs} ms after the kill (NODE_DEAD_AFTER_MS ${DEAD_AFTER_MS})`,
    );
    const active = await call(otherId)('GET', `/meetings/${meeting.id}/active-session`);
    assert.equal(active.status, 404, 'the session ended in the store');
    // The recording waits for its node: not stopped by the survivor.
    const waiting = await call(otherId)<{ data: { status: string } }>('GET', `/recordings/${recId}`);
    assert.equal(waiting.json.data.status, 'RECORDING');
    // The survivor serves new meetings (it is now the only live node).
    const next = (await call(otherId)<{ data: { id: string } }>('POST', '/meetings', { title: 'after' })).json
      .data;
    const dan = (
      await call(otherId)<{ data: { token: string } }>('POST', `/meetings/${next.id}/participants`, {
        custom_participant_id: 'dan',
        preset_name: 'group_call_host',
      })
    ).json.data.token;
    const d = await OpusPublisher.connectAndJoin(`${node(otherId).wsUrl}?authToken=${dan}`);
    assert.equal(d.via.length, 1, 'placed on the survivor');
    await d.pub.leave();

    // The killed node comes back: its recording is repaired (the crash path) and uploaded.
    await startNode(hostId);
    await until('repaired', async () => {
      const r = await call(otherId)<{ data: { status: string } }>('GET', `/recordings/${recId}`);
      return r.json.data.status === 'UPLOADED';
    });
    const f = readdirSync(dir).find((n) => n.endsWith('.webm')) as string;
    const { samples, status } = decodeMono(join(dir, f));
    assert.equal(status, 0);
    assert.equal(strongest(samples, 0.2, Math.min(samples.length / 48000, 1), [523, 784]), 523);
  });

  it('200 parallel participant creates over both nodes with the same custom ids: no duplicate, no 5xx', async () => {
    const meeting = (await call('node-a')<{ data: { id: string } }>('POST', '/meetings', { title: 'burst' }))
      .json.data;
    const ids = Array.from({ length: 100 }, (_, i) => `user-${i}`);
    const results = await Promise.all(
      ids.flatMap((custom) =>
        ['node-a', 'node-b'].map(async (via) => ({
          custom,
          status: (
            await call(via)('POST', `/meetings/${meeting.id}/participants`, {
              custom_participant_id: custom,
              preset_name: 'group_call_participant',
            })
          ).status,
        })),
      ),
    );
    assert.equal(results.filter((r) => r.status >= 500).length, 0, 'no 5xx');
    for (const custom of ids) {
      const mine = results
        .filter((r) => r.custom === custom)
        .map((r) => r.status)
        .sort();
      assert.deepEqual(mine, [201, 409], `${custom}: one created, one conflict`);
    }
    const list = await call('node-b')<{ data: unknown[]; paging: { total_count: number } }>(
      'GET',
      `/meetings/${meeting.id}/participants?per_page=100`,
    );
    assert.equal(list.json.paging.total_count, 100);
  });
});
