/**
 * @trackroom/sdk: the browser client. `RealtimeKitClient.init({ authToken })` returns the meeting;
 * `join()`, `self`, `participants.joined`, `recording`, `leave()` follow RealtimeKit's web core.
 */
export { RealtimeKitClient, MeetingMeta, signallingUrl, finalStateForClose } from './realtimekit-client.js';
export type {
  RealtimeKitClientOptions,
  MediaConnectionState,
  MediaTransportKind,
  MeetingMetaEvents,
  SocketState,
} from './realtimekit-client.js';
export { SelfParticipant, permissionOfError } from './self-participant.js';
export type {
  SelfEvents,
  RoomLeftState,
  RoomState,
  GetUserMedia,
  MediaPermission,
} from './self-participant.js';
export { RemoteParticipant } from './remote-participant.js';
export type { RemoteParticipantEvents } from './remote-participant.js';
export { ParticipantMap } from './participant-map.js';
export type { ParticipantMapEvents } from './participant-map.js';
export { Recording, recordingStateOf, recordedNow } from './recording.js';
export type { RecordingEntry, RecordingEvents, RecordingState } from './recording.js';
export { Backoff, backoffBaseDelay } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export type { WebSocketFactory, WebSocketLike } from './signalling-socket.js';
export type { PeerConnectionFactory } from './media-connections.js';
export { TypedEmitter } from '@trackroom/protocol';
export type { Logger } from '@trackroom/protocol';
