export * from './media-tools.js';
export * from './ogg-opus.js';
