export * from './s3-test-server.js';
export * from './postgres-test.js';
export * from './free-port.js';
export * from './redis-test.js';
