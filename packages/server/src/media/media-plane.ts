import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import {
  RtkError,
  SIGNALLING_PATH,
  SIGNALLING_TOKEN_PARAM,
  isRtkError,
  type Logger,
  type MediaPeer,
  type PeerIdentity,
  type RecordingInfo,
  type WorkerStats,
} from '@trackroom/protocol';
import {
  ChildMediaWorker,
  createMediaWorker,
  type MediaWorkerConfig,
  type MediaWorkerHandle,
} from '@trackroom/media-worker';
import { redirectUpgrade, refuseUpgrade } from '@trackroom/sfu';
import { webRoutes } from '@trackroom/web';
import type { MediaControl, RouteDeps } from '../http/deps.js';
import { presetCapabilities } from '../services/default-presets.js';
import { describeTurn, workerIcePorts, type ServerConfig } from '../config.js';
import { ownRelayPlan } from '@trackroom/sfu';
import { ACTIVE_STATUSES } from '../services/recording-status.js';
import type { RecordingRow } from '../store/types.js';
import { TrackEngine, selects } from './track-engine.js';
import { WorkerPool } from './worker-pool.js';

type Selectable = Pick<MediaPeer, 'hidden' | 'participantId' | 'customParticipantId'>;

/**
 * The signalling view of a recording: who it captures among the peers present (the track engine's
 * own selection rule). Ended recordings capture nobody.
 */
export function recordingInfo(rec: RecordingRow, present: readonly Selectable[]): RecordingInfo {
  const captured = ACTIVE_STATUSES.includes(rec.status)
    ? present.filter((p) => selects(rec, p)).map((p) => p.participantId)
    : [];
  return { id: rec.id, type: rec.type, status: rec.status, recordedParticipantIds: [...new Set(captured)] };
}

/** The config of media worker `id`: the server's ICE settings with the worker's own ports. */
export function workerConfig(
  config: ServerConfig,
  id: number,
  logLevel: MediaWorkerConfig['logLevel'],
): MediaWorkerConfig {
  const { bindAddress, announcedAddress } = config.ice;
  return {
    workerId: id,
    ice: {
      bindAddress,
      ...(announcedAddress ? { announcedAddress } : {}),
      ...workerIcePorts(config.ice, id, config.mediaWorkers),
      ...(config.turn ? { turn: config.turn } : {}),
    },
    ...(logLevel ? { logLevel } : {}),
  };
}

/**
 * Says once at start how TURN is set up (never the secret or the credential): browsers get every
 * URL; the SFU's own connections only what libjuice can use (UDP, not with the UDP mux).
 */
function logTurn(logger: Logger, config: ServerConfig): void {
  if (!config.turn) return;
  const plan = ownRelayPlan({ ...config.ice, turn: config.turn });
  logger.info(
    { ...describeTurn(config.turn), sfuRelays: plan.usable, sfuSkipped: plan.skipped },
    plan.usable.length > 0
      ? 'TURN: browsers and the SFU relay through the TURN servers'
      : 'TURN: browsers relay through the TURN servers; the SFU offers only its own address (see sfuSkipped)',
  );
}

/** Sums the workers' SFU counters (the single-process shape of `media.sfu` in `/v1/stats`). */
function sumSfu(all: WorkerStats[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const w of all) for (const [k, v] of Object.entries(w.sfu)) out[k] = (out[k] ?? 0) + v;
  return out;
}

export interface MediaPlane {
  pool: WorkerPool;
  engine: TrackEngine;
  control: MediaControl;
  stats(): Promise<unknown>;
  /** Each running worker's figures (for /metrics). */
  workerStats(): Promise<WorkerStats[]>;
  /** Live tracks and placed meetings (the cluster registry's load figures). */
  load(): { liveTracks: number; meetings: number };
  close(): Promise<void>;
}

export interface MediaPlaneOptions {
  /** The lowest level worker processes forward (the server's LOG_LEVEL). */
  workerLogLevel?: MediaWorkerConfig['logLevel'];
}

/**
 * Wires the media workers to the control plane: token auth at the `/ws` upgrade, placement of
 * meetings on workers, sessions, kick/mute, recording state, track capture, worker deaths.
 */
export async function attachMediaPlane(
  d: RouteDeps,
  http: FastifyInstance,
  opts: MediaPlaneOptions = {},
): Promise<MediaPlane> {
  const { repo, tokens, sessions, recordings, config } = d;
  const logger = d.logger.child({ subsystem: 'media' });
  let closing = false;
  logTurn(logger, config);

  const activeRecordings = async (meetingId: string): Promise<RecordingRow[]> =>
    (
      await repo.recordings.list({
        where: { meeting_id: meetingId },
        whereIn: { field: 'status', values: [...ACTIVE_STATUSES] },
      })
    ).rows;

  // MEDIA_WORKERS=1: one worker in this process, as a single process always ran; more: one child
  // process per worker. Either way the control plane holds only MediaWorkerHandles.
  const inProcess = config.mediaWorkers === 1;
  const create = (id: number): MediaWorkerHandle => {
    const cfg = workerConfig(config, id, opts.workerLogLevel);
    return inProcess
      ? createMediaWorker(cfg, d.logger.child({ worker: id }))
      : new ChildMediaWorker({ config: cfg, logger: d.logger });
  };
  const pool = new WorkerPool({
    count: config.mediaWorkers,
    create,
    logger: logger.child({ subsystem: 'workers' }),
  });
  await pool.start();
  const present = (meetingId: string): Selectable[] => pool.peers(meetingId);

  async function authenticate(token: string): Promise<PeerIdentity> {
    const claims = await tokens.verify(token);
    const participant = await repo.participants.get(claims.pid);
    if (!participant || participant.meeting_id !== claims.mid) {
      throw new RtkError('TOKEN_INVALID', 'The participant of this token no longer exists');
    }
    const meeting = await repo.meetings.get(claims.mid);
    if (!meeting) throw new RtkError('TOKEN_INVALID', 'The meeting of this token no longer exists');
    if (meeting.status === 'INACTIVE') throw new RtkError('FORBIDDEN', 'This meeting is INACTIVE');
    const preset = await repo.presets.findOne({ app_id: meeting.app_id, name: participant.preset_name });
    const caps = presetCapabilities(preset?.permissions);
    return {
      meetingId: meeting.id,
      participantId: participant.id,
      customParticipantId: participant.custom_participant_id,
      name: participant.name ?? participant.custom_participant_id,
      presetName: participant.preset_name,
      canProduceAudio: caps.canProduceAudio,
      canProduceVideo: caps.canProduceVideo,
      hidden: caps.hidden || caps.isRecorder,
      meetingTitle: meeting.title ?? '',
    };
  }

  const engine = new TrackEngine({ pool, logger: logger.child({ subsystem: 'track-engine' }) });
  recordings.engine = engine;

  pool.on('peerJoined', (e) => {
    sessions
      .peerJoined({
        meetingId: e.meetingId,
        peerId: e.peerId,
        participantId: e.participantId,
        customParticipantId: e.customParticipantId,
        name: e.name,
        presetName: e.presetName,
        joinedAt: new Date(e.joinedAt),
      })
      .catch((err: unknown) => logger.error({ err, peerId: e.peerId }, 'recording a join failed'));
  });
  const peerGone = (e: { meetingId: string; peerId: string; at: number }) =>
    sessions
      .peerLeft({ meetingId: e.meetingId, peerId: e.peerId, leftAt: new Date(e.at) })
      .catch((err: unknown) => logger.error({ err, peerId: e.peerId }, 'recording a leave failed'));
  pool.on('peerLeft', (e) => void peerGone(e));
  pool.on('recordingFailed', ({ recordingId, failure }) => {
    recordings
      .captureFailed(recordingId, failure)
      .catch((err: unknown) => logger.error({ err, recordingId }, 'stopping a failed recording failed'));
  });
  // A dead worker: its recordings are repaired first (as after a crash), then its peers leave, so
  // that a session ending with them finds no recording left to stop.
  pool.on('workerLost', ({ workerId, peers, recordingIds }) => {
    engine.forget(recordingIds);
    void (async () => {
      await recordings
        .recoverInterrupted(recordingIds)
        .catch((err: unknown) => logger.error({ err, worker: workerId }, 'repairing recordings failed'));
      const at = Date.now();
      await Promise.all(peers.map((p) => peerGone({ meetingId: p.meetingId, peerId: p.peerId, at })));
      for (const meetingId of new Set(peers.map((p) => p.meetingId)))
        await announceRecordings(meetingId).catch((err: unknown) =>
          logger.error({ err, meetingId }, 'recording broadcast failed'),
        );
    })();
  });

  /**
   * Sends every peer of the meeting the current recordings and whom each captures. `changed` (a
   * recording whose status just moved) is listed even once it has ended, so clients see it stop.
   */
  const announceRecordings = async (meetingId: string, changed?: RecordingRow): Promise<void> => {
    const active = await activeRecordings(meetingId);
    if (closing || (!changed && active.length === 0)) return;
    const rows = changed
      ? [...active.filter((r) => r.id !== changed.id), changed].sort((x, y) =>
          x.invoked_time.localeCompare(y.invoked_time),
        )
      : active;
    const peers = present(meetingId);
    await pool.forMeeting(meetingId, 'broadcast', {
      meetingId,
      message: { type: 'recordingUpdate', recordings: rows.map((r) => recordingInfo(r, peers)) },
    });
  };
  recordings.on('statusChanged', ({ recording }) => {
    announceRecordings(recording.meeting_id, recording).catch((err: unknown) =>
      logger.error({ err, recordingId: recording.id }, 'recording broadcast failed'),
    );
  });
  // ... and when its allowlist changes (PATCH): removed people see they are no longer recorded.
  recordings.on('allowlistChanged', ({ recording }) => {
    announceRecordings(recording.meeting_id).catch((err: unknown) =>
      logger.error({ err, recordingId: recording.id }, 'recording broadcast failed'),
    );
  });
  // Who a live recording captures changes when selected people come and go.
  const onPresenceChanged = (e: { meetingId: string; hidden?: boolean }) => {
    if (e.hidden) return;
    announceRecordings(e.meetingId).catch((err: unknown) =>
      logger.error({ err, meetingId: e.meetingId }, 'recording broadcast failed'),
    );
  };
  pool.on('peerJoined', onPresenceChanged);
  pool.on('peerLeft', onPresenceChanged);

  /** Authenticates the upgrade here, places its meeting, and hands the socket to that worker. */
  const admit = async (req: IncomingMessage, socket: Duplex, head: Buffer, log: Logger): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const token = url.searchParams.get(SIGNALLING_TOKEN_PARAM);
    if (!token) throw new RtkError('TOKEN_INVALID', `missing ${SIGNALLING_TOKEN_PARAM}`);
    const identity = await authenticate(token);
    if (closing) throw new RtkError('INTERNAL', 'the server is shutting down');
    // A meeting live on another server is joined there, not split in two: with REDIS_URL its
    // placement decides (the first join places it on the least loaded node), else the store.
    if (d.cluster) {
      const host = await d.cluster.hostFor(identity.meetingId);
      if (!host.here)
        throw new RtkError('HOSTED_ELSEWHERE', `Meeting ${identity.meetingId} is hosted by ${host.nodeId}`, {
          node_id: host.nodeId,
          node_url: host.nodeUrl,
        });
    }
    await sessions.assertHostedHere(identity.meetingId);
    const worker = pool.place(identity.meetingId);
    const joining: Selectable = { ...identity, hidden: identity.hidden };
    const recs = (await activeRecordings(identity.meetingId)).map((r) =>
      recordingInfo(r, [...present(identity.meetingId), joining]),
    );
    if (socket.destroyed) return;
    log.debug({ meetingId: identity.meetingId, worker: worker.id }, 'signalling socket admitted');
    worker.admit(
      {
        identity,
        recordings: recs,
        request: { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers },
        headBase64: head.toString('base64'),
      },
      socket,
    );
  };
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== SIGNALLING_PATH) return void socket.destroy();
    if (closing) return void socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
    // Until the socket is handed over, a client that goes away must not crash us.
    const onError = () => socket.destroy();
    socket.on('error', onError);
    admit(req, socket, head, logger).then(
      () => socket.off('error', onError),
      (err: unknown) => {
        socket.off('error', onError);
        if (socket.destroyed) return;
        const e = isRtkError(err) ? err : new RtkError('INTERNAL');
        if (!isRtkError(err)) logger.error({ err }, 'admitting a signalling socket failed');
        // Hosted by another server that announced its URL: the client is sent there.
        const nodeUrl = e.code === 'HOSTED_ELSEWHERE' ? e.details?.node_url : undefined;
        if (typeof nodeUrl === 'string') {
          logger.debug({ nodeId: e.details?.node_id, nodeUrl }, 'signalling socket redirected');
          return redirectUpgrade(req, socket, head, { nodeUrl, nodeId: String(e.details?.node_id ?? '') });
        }
        refuseUpgrade(req, socket, head, e);
      },
    );
  };
  http.server.on('upgrade', onUpgrade);

  // The join page, the dashboard and the browser bundles (a route's own headers win).
  for (const r of webRoutes({ accountId: config.accountId })) {
    http.get(r.path, async (_req, reply) =>
      reply
        .type(r.contentType)
        .headers({ 'cache-control': 'no-cache', ...r.headers })
        .send(r.body()),
    );
  }

  return {
    pool,
    engine,
    load: () => ({ liveTracks: pool.trackCount, meetings: pool.meetingCount }),
    control: {
      kick: async (meetingId, peerIds) =>
        (await pool.forMeeting(meetingId, 'kick', { meetingId, ...(peerIds ? { peerIds } : {}) })) ?? [],
      muteAudio: async (meetingId, peerIds) =>
        (await pool.forMeeting(meetingId, 'muteAudio', { meetingId, ...(peerIds ? { peerIds } : {}) })) ?? [],
    },
    workerStats: () => pool.stats(),
    async stats() {
      const workers = await pool.stats();
      const placed = pool.placements();
      return {
        sfu: sumSfu(workers),
        media_peers: pool.peerCount,
        active_track_recordings: engine.activeCount,
        track_files: workers.reduce((a, w) => a + w.trackFiles, 0),
        workers: workers.map((w) => ({
          id: w.workerId,
          pid: w.pid,
          in_process: inProcess,
          load: w.load,
          cpu_us: w.cpuUs,
          rss_bytes: w.rssBytes,
          track_files: w.trackFiles,
          meeting_ids: placed.get(w.workerId) ?? [],
          sfu: w.sfu,
          recorder: {
            bytes_written: w.recorder.bytesWritten,
            packets_received: w.recorder.packetsReceived,
            packets_lost: w.recorder.packetsLost,
          },
        })),
      };
    },
    async close() {
      closing = true;
      http.server.off('upgrade', onUpgrade);
      await pool.close();
    },
  };
}
