/** The browser bundle's entry: the package's surface, plus `default` = the meeting class. */
export * from './index.js';
export { RealtimeKitClient as default } from './realtimekit-client.js';
