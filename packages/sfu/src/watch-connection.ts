import type { TransportPeerConnection } from './transport.js';

/** Calls `onFail` once when the connection fails, closes on its own, or is not connected in time. */
export function watchConnection(pc: TransportPeerConnection, timeoutMs: number, onFail: () => void): void {
  let done = false;
  const timer = setTimeout(() => {
    if (pc.state !== 'connected' && !done) {
      done = true;
      onFail();
    }
  }, timeoutMs);
  timer.unref();
  pc.on('stateChange', (s) => {
    if (s === 'connected') clearTimeout(timer);
    if ((s === 'failed' || s === 'closed') && !done) {
      done = true;
      clearTimeout(timer);
      onFail();
    }
  });
}
