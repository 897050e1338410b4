/** Test and benchmark support shared by e2e and bench (imported as `@trackroom/e2e/support`). */
export * from './opus-publisher.js';
export * from './server-process.js';
export * from './tone.js';
export * from './webhook-receiver.js';
export * from './ndc-audio-peer.js';
export * from './ndc-opus-publisher.js';
export * from './ndc-opus-sender.js';
export * from './opus-rtp-stream.js';
export * from './packet-clock.js';
export * from './signalling-socket.js';
export * from './until.js';
export * from './cluster.js';
export * from './ndc-single-subscriber.js';
