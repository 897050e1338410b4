import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import {
  RtkError,
  SIGNALLING_PATH,
  type MediaPeer,
  type PeerIdentity,
  type RecordingInfo,
} from '@trackroom/protocol';
import { Sfu } from '@trackroom/sfu';
import { webRoutes } from '@trackroom/web';
import type { MediaControl, RouteDeps } from '../http/deps.js';
import { presetCapabilities } from '../services/default-presets.js';
import type { ServerConfig } from '../config.js';
import { ACTIVE_STATUSES } from '../services/recording-status.js';
import type { RecordingRow } from '../store/types.js';
import { TrackEngine, selects } from './track-engine.js';

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

/**
 * The startup warning for an address setup where remote browsers would get signalling but no media:
 * HOST is a wildcard while ICE binds loopback and nothing announces a reachable address.
 */
export function mediaAddressWarning(config: {
  host: ServerConfig['host'];
  ice: Pick<ServerConfig['ice'], 'bindAddress'> & { announcedAddress?: string | undefined };
}): string | undefined {
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  if (!wildcard || config.ice.announcedAddress) return undefined;
  const bind = config.ice.bindAddress;
  if (bind !== '127.0.0.1' && bind !== '::1' && bind !== '0.0.0.0' && bind !== '::') return undefined;
  return (
    `HOST is ${config.host} but RTC_ANNOUNCED_ADDRESS is unset: browsers on other machines will reach ` +
    `the page and signalling but get no audio (media is offered on ${bind}). Set RTC_ANNOUNCED_ADDRESS ` +
    `to this machine's address as browsers reach it (and RTC_BIND_ADDRESS to a local interface address).`
  );
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
  let closing = false;
  const addressWarning = mediaAddressWarning(config);
  if (addressWarning)
    logger.warn({ host: config.host, rtcBindAddress: config.ice.bindAddress }, addressWarning);

  const activeRecordings = async (meetingId: string): Promise<RecordingRow[]> =>
    (
      await repo.recordings.list({
        where: { meeting_id: meetingId },
        whereIn: { field: 'status', values: [...ACTIVE_STATUSES] },
      })
    ).rows;
  // `sfu` is assigned below, before it accepts any socket.
  const present = (meetingId: string): Selectable[] => sfu.peers(meetingId);

  const sfu = new Sfu({
    ice: {
      bindAddress: config.ice.bindAddress,
      ...(config.ice.announcedAddress ? { announcedAddress: config.ice.announcedAddress } : {}),
      ...(config.ice.portRangeBegin !== undefined ? { portRangeBegin: config.ice.portRangeBegin } : {}),
      ...(config.ice.portRangeEnd !== undefined ? { portRangeEnd: config.ice.portRangeEnd } : {}),
      ...(config.ice.udpMuxPort !== undefined ? { udpMuxPort: config.ice.udpMuxPort } : {}),
    },
    logger: logger.child({ subsystem: 'sfu' }),
    initialState: async (meetingId, joining) => {
      const peers: Selectable[] = [...present(meetingId), joining];
      return { recordings: (await activeRecordings(meetingId)).map((r) => recordingInfo(r, peers)) };
    },
    async authenticate(token: string): Promise<PeerIdentity> {
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
    },
  });

  // Hidden and recorder peers come marked from authenticate() (PeerIdentity.hidden): no registry
  // of them is kept here (one keyed by participant id grew with every participant ever admitted).
  // The Sfu is the recorder's media source itself: it emits the media plane's events.
  const engine = new TrackEngine({
    source: sfu,
    logger: logger.child({ subsystem: 'track-engine' }),
    onCaptureFailed: (recordingId, failure) => {
      recordings
        .captureFailed(recordingId, failure)
        .catch((err: unknown) => logger.error({ err, recordingId }, 'stopping a failed recording failed'));
    },
  });
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
        joinedAt: new Date(e.joinedAt),
      })
      .catch((err: unknown) => logger.error({ err, peerId: e.peerId }, 'recording a join failed'));
  });
  sfu.on('peerLeft', (e) => {
    sessions
      .peerLeft({ meetingId: e.meetingId, peerId: e.peerId, leftAt: new Date(e.at) })
      .catch((err: unknown) => logger.error({ err, peerId: e.peerId }, 'recording a leave failed'));
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
    sfu.broadcast(meetingId, {
      type: 'recordingUpdate',
      recordings: rows.map((r) => recordingInfo(r, peers)),
    });
  };
  recordings.on('statusChanged', ({ recording }) => {
    announceRecordings(recording.meeting_id, recording).catch((err: unknown) =>
      logger.error({ err, recordingId: recording.id }, 'recording broadcast failed'),
    );
  });
  // Who a live recording captures changes when selected people come and go; a hidden peer changes nothing.
  const onPresenceChanged = (e: { meetingId: string; hidden: boolean }) => {
    if (e.hidden) return;
    announceRecordings(e.meetingId).catch((err: unknown) =>
      logger.error({ err, meetingId: e.meetingId }, 'recording broadcast failed'),
    );
  };
  sfu.on('peerJoined', onPresenceChanged);
  sfu.on('peerLeft', onPresenceChanged);

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
      media_peers: sfu.stats().joinedPeers,
      active_track_recordings: engine.activeCount,
      track_files: engine.fileCount,
    }),
    async close() {
      closing = true;
      http.server.off('upgrade', onUpgrade);
      await engine.abandonAll();
      await sfu.close();
    },
  };
}
