export * from './werift-util.js';
export * from './werift-client.js';
export * from './harness.js';
