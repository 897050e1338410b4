export * from './errors.js';
export * from './logger.js';
export * from './typed-emitter.js';
export * from './signalling.js';
export * from './media.js';
export * from './worker.js';
export * from './turn.js';
