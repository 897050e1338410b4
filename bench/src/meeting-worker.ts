/**
 * Client process of the large-meeting benchmark (meeting-scale.ts): participants of one meeting,
 * each publishing Opus and subscribing through one renegotiated connection, driven over IPC. The
 * WebRTC stack comes from BENCH_MEETING_STACK: `ndc` (node-datachannel, the default) or `werift`.
 * Several of these share a meeting's participants, so that the clients are not one event loop that
 * the server's numbers would be measured through. Times cross processes as epoch milliseconds
 * (`performance.timeOrigin + performance.now()`).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sineOpusPackets } from '@trackroom/recorder/testing';
import { NdcOpusPublisher, OpusPublisher } from '@trackroom/e2e/support';

/** What the orchestrator asks. */
export type MeetingWorkerRequest =
  | { type: 'join'; j: number; url: string; talker: boolean }
  | { type: 'snapshot' }
  | { type: 'play' }
  | { type: 'stop-playing' }
  | { type: 'leave' };

export interface ParticipantSnapshot {
  j: number;
  peerId: string;
  sent: number;
  /** Packets received per publisher peer id. */
  received: [string, number][];
  /** Epoch ms of the first packet per publisher peer id. */
  firsts: [string, number][];
  openConnections: number;
  errors: number;
}

/** What the worker answers. */
export type MeetingWorkerMessage =
  | { type: 'ready' }
  | {
      type: 'joined';
      j: number;
      peerId: string;
      /** Epoch ms when the join began. */
      startedAt: number;
      joinMs: number;
      /** Socket open, open → joined, joined → publish connection up (ms). */
      phases: [number, number, number];
    }
  | { type: 'join-failed'; j: number; error: string }
  | { type: 'snapshot'; participants: ParticipantSnapshot[] }
  | { type: 'done' };

const epochMs = () => performance.timeOrigin + performance.now();
const send = (m: MeetingWorkerMessage) => process.send?.(m);

function main(): void {
  if (!process.send) throw new Error('meeting-worker must be forked (it is driven over IPC)');
  // Its own folder: the packets file has a fixed name (two workers must not share it).
  const packets = sineOpusPackets({
    dir: mkdtempSync(join(tmpdir(), 'bench-meeting-worker-')),
    frequency: 440,
    seconds: 2,
    channels: 1,
  });
  const dtx = (i: number) => i % 20 !== 0;
  const ndc = (process.env.BENCH_MEETING_STACK ?? 'ndc') === 'ndc';
  const people = new Map<number, { pub: OpusPublisher | NdcOpusPublisher; talker: boolean }>();
  const play = (p: { pub: OpusPublisher | NdcOpusPublisher; talker: boolean }) =>
    p.pub.play(packets, p.talker ? () => false : dtx);

  process.on('message', (m: MeetingWorkerRequest) => {
    switch (m.type) {
      case 'join':
        void (async () => {
          const startedAt = epochMs();
          const t0 = performance.now();
          try {
            const o = { subscribe: 'single', timeoutMs: 30_000 } as const;
            const pub = ndc
              ? await NdcOpusPublisher.connect(m.url, o)
              : await OpusPublisher.connect(m.url, o);
            const opened = performance.now();
            await pub.join();
            const joined = performance.now();
            await pub.publish();
            const done = performance.now();
            const p = { pub, talker: m.talker };
            people.set(m.j, p);
            play(p);
            send({
              type: 'joined',
              j: m.j,
              peerId: pub.peerId,
              startedAt,
              joinMs: done - t0,
              phases: [opened - t0, joined - opened, done - joined],
            });
          } catch (err) {
            send({ type: 'join-failed', j: m.j, error: String(err) });
          }
        })();
        break;
      case 'snapshot': {
        const origin = performance.timeOrigin;
        const participants = [...people].map(([j, { pub }]) => ({
          j,
          peerId: pub.peerId,
          sent: pub.sent,
          received: [...pub.single!.receivedByPeer],
          // firstPacketAt is this process's performance.now(): made epoch here.
          firsts: [...pub.single!.firstPacketAt].map(([id, at]) => [id, origin + at] as [string, number]),
          openConnections: pub.single!.openConnections,
          errors: pub.single!.errors.length,
        }));
        send({ type: 'snapshot', participants });
        break;
      }
      case 'play':
        for (const p of people.values()) play(p);
        break;
      case 'stop-playing':
        for (const p of people.values()) p.pub.stopPlaying();
        break;
      case 'leave':
        void Promise.allSettled([...people.values()].map((p) => p.pub.leave())).then(() => {
          send({ type: 'done' });
          process.exit(0);
        });
        break;
    }
  });
  send({ type: 'ready' });
}

main();
