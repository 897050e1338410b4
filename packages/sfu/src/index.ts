export { Sfu } from './sfu.js';
export type { AudioTap, PeerIdentity, SfuEvents, SfuOptions, SfuStats } from './sfu.js';
export { NodeDatachannelTransport } from './node-datachannel-transport.js';
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
