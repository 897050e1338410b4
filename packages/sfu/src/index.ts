export { Sfu } from './sfu.js';
export { redirectUpgrade, refuseUpgrade } from './refuse-upgrade.js';
export type { AudioTap, SfuOptions, SfuStats, SignallingAdmission, UpgradeRequest } from './sfu.js';
export { NodeDatachannelTransport, ownRelayPlan } from './node-datachannel-transport.js';
export { TurnCredentials, turnRestCredential } from './turn-credentials.js';
export type { TurnCredentialsOptions, TurnRelay } from './turn-credentials.js';
export type { NodeDatachannelTransportOptions } from './node-datachannel-transport.js';
export type {
  IceOptions,
  TrackCodec,
  TrackSpec,
  Transport,
  TransportPcState,
  TransportPeerConnection,
  TransportPeerConnectionEvents,
  TransportTrack,
  TransportTrackEvents,
} from './transport.js';
