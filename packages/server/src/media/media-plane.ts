import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { RtkError, TypedEmitter, SIGNALLING_PATH, type RecordingInfo } from '@trackroom/protocol';
import { Sfu, type PeerIdentity } from '@trackroom/sfu';
import { webRoutes } from '@trackroom/web';
import type { MediaControl, RouteDeps } from '../http/deps.js';
import { presetCapabilities } from '../services/default-presets.js';
import { ACTIVE_STATUSES } from '../services/recording-status.js';
import { TrackEngine, type MediaPeer, type MediaSource, type MediaSourceEvents } from './track-engine.js';

/** Adapts the SFU's events into the engine's MediaSource and keeps the live peer registry. */
class SfuMediaSource extends TypedEmitter<MediaSourceEvents> implements MediaSource {
  readonly #sfu: Sfu;
  readonly #peers = new Map<string, MediaPeer>();

  constructor(sfu: Sfu) {
    super();
    this.#sfu = sfu;
    sfu.on('peerJoined', (e) => {
      const p: MediaPeer = {
        meetingId: e.meetingId,
        peerId: e.peerId,
        participantId: e.participantId,
        customParticipantId: e.customParticipantId,
        hidden: e.hidden,
        audio: undefined,
        audioEnabled: true,
      };
      const info = sfu.listPeers(e.meetingId).find((x) => x.peerId === e.peerId);
      if (info) p.audioEnabled = info.audioEnabled;
      this.#peers.set(e.peerId, p);
      this.emit('peerJoined', p);
    });
    sfu.on('audioTrackStarted', (e) => {
      const p = this.#peers.get(e.peerId);
      if (!p) return;
      p.audio = { payloadType: e.payloadType, clockRate: e.clockRate, channels: e.channels };
      this.emit('audioStarted', p);
    });
    sfu.on('mediaStateChanged', (e) => {
      const p = this.#peers.get(e.peerId);
      if (!p || e.kind !== 'audio') return;
      p.audioEnabled = e.enabled;
      this.emit('audioEnabled', {
        meetingId: e.meetingId,
        peerId: e.peerId,
        enabled: e.enabled,
        at: e.at.getTime(),
      });
    });
    sfu.on('peerLeft', (e) => {
      this.#peers.delete(e.peerId);
      this.emit('peerLeft', { meetingId: e.meetingId, peerId: e.peerId, at: e.leftAt.getTime() });
    });
  }

  /** Live peers known to the engine's source (0 once everyone left). */
  get size(): number {
    return this.#peers.size;
  }

  peers(meetingId: string): MediaPeer[] {
    return [...this.#peers.values()].filter((p) => p.meetingId === meetingId);
  }

  tapAudio(
    meetingId: string,
    peerId: string,
    onRtp: (rtp: Uint8Array, arrivalMs: number) => void,
  ): () => void {
    return this.#sfu.tapAudio(meetingId, peerId, onRtp);
  }
}

export interface MediaPlane {
  sfu: Sfu;
  engine: TrackEngine;
  control: MediaControl;
  stats(): unknown;
  close(): Promise<void>;
}

/** Wires the SFU to the control plane: token auth, sessions, kick/mute, recording state, track capture. */
export async function attachMediaPlane(d: RouteDeps, http: FastifyInstance): Promise<MediaPlane> {
  const { repo, tokens, sessions, recordings, config } = d;
  const logger = d.logger.child({ subsystem: 'media' });

  const recordingInfos = async (meetingId: string): Promise<RecordingInfo[]> => {
    const { rows } = await repo.recordings.list({
      where: { meeting_id: meetingId },
      whereIn: { field: 'status', values: [...ACTIVE_STATUSES] },
    });
    return rows.map((r) => ({ id: r.id, type: r.type, status: r.status }));
  };

  const sfu = new Sfu({
    ice: {
      bindAddress: config.ice.bindAddress,
      ...(config.ice.announcedAddress ? { announcedAddress: config.ice.announcedAddress } : {}),
      ...(config.ice.portRangeBegin !== undefined ? { portRangeBegin: config.ice.portRangeBegin } : {}),
      ...(config.ice.portRangeEnd !== undefined ? { portRangeEnd: config.ice.portRangeEnd } : {}),
      ...(config.ice.udpMuxPort !== undefined ? { udpMuxPort: config.ice.udpMuxPort } : {}),
    },
    logger: logger.child({ subsystem: 'sfu' }),
    initialState: async (meetingId) => ({ recordings: await recordingInfos(meetingId) }),
    async authenticate(token: string): Promise<PeerIdentity> {
      const claims = tokens.verify(token);
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
      };
    },
  });

  // Hidden and recorder peers come marked from authenticate() (PeerIdentity.hidden): no registry
  // of them is kept here (one keyed by participant id grew with every participant ever admitted).
  const source = new SfuMediaSource(sfu);
  const engine = new TrackEngine({ source, logger: logger.child({ subsystem: 'track-engine' }) });
  recordings.engine = engine;

  sfu.on('peerJoined', (e) => {
    sessions
      .peerJoined({
        meetingId: e.meetingId,
        peerId: e.peerId,
        participantId: e.participantId,
        customParticipantId: e.customParticipantId,
        name: e.name,
        presetName: e.presetName,
        joinedAt: e.joinedAt,
      })
      .catch((err: unknown) => logger.error({ err, peerId: e.peerId }, 'recording a join failed'));
  });
  sfu.on('peerLeft', (e) => {
    sessions
      .peerLeft({ meetingId: e.meetingId, peerId: e.peerId, leftAt: e.leftAt })
      .catch((err: unknown) => logger.error({ err, peerId: e.peerId }, 'recording a leave failed'));
  });
  recordings.on('statusChanged', ({ recording }) => {
    void recordingInfos(recording.meeting_id).then(
      (active) => {
        const all = active.some((r) => r.id === recording.id)
          ? active
          : [...active, { id: recording.id, type: recording.type, status: recording.status }];
        sfu.broadcast(recording.meeting_id, { type: 'recordingUpdate', recordings: all });
      },
      (err: unknown) => logger.error({ err }, 'recording broadcast failed'),
    );
  });

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === SIGNALLING_PATH) sfu.handleUpgrade(req, socket, head);
    else socket.destroy();
  };
  http.server.on('upgrade', onUpgrade);

  // The join page and the browser SDK bundle.
  for (const r of webRoutes()) {
    http.get(r.path, async (_req, reply) =>
      reply.type(r.contentType).header('cache-control', 'no-cache').send(r.body()),
    );
  }

  return {
    sfu,
    engine,
    control: {
      kick: (meetingId, peerIds) => sfu.kick(meetingId, peerIds),
      muteAudio: (meetingId, peerIds) => sfu.muteAudio(meetingId, peerIds),
    },
    stats: () => ({
      sfu: sfu.stats(),
      media_peers: source.size,
      active_track_recordings: engine.activeCount,
      track_files: engine.fileCount,
    }),
    async close() {
      http.server.off('upgrade', onUpgrade);
      await engine.abandonAll();
      await sfu.close();
    },
  };
}
