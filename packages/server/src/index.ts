export * from './config.js';
export * from './server.js';
export * from './logger.js';
export type * from './store/types.js';
export type { Repository } from './store/repository.js';
