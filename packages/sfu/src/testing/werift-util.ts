/**
 * Small helpers for werift peers in tests and load generation (loopback only). Shared by the SFU's
 * own test client and e2e/bench support through `@trackroom/sfu/testing`.
 */
import type { RTCPeerConnection } from 'werift';

/** Keeps only 127.0.0.1 candidates: test traffic never goes anywhere else. */
export function loopbackOnly(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') || / 127\.0\.0\.1 /.test(l))
    .join('\r\n');
}

/** Resolves once ICE gathering is complete (no trickle in this protocol). */
export async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise<void>((resolve) => {
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === 'complete') {
        unSubscribe();
        resolve();
      }
    });
  });
}

/**
 * Resolves when the connection is up; rejects after `timeoutMs`, and with `failFast` (the default)
 * at once when it fails or closes.
 */
export function connected(
  pc: RTCPeerConnection,
  timeoutMs: number,
  what = 'peer connection',
  failFast = true,
): Promise<void> {
  if (pc.connectionState === 'connected') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      unSubscribe();
      reject(new Error(`${what} not connected in ${timeoutMs} ms`));
    }, timeoutMs);
    const { unSubscribe } = pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        clearTimeout(timer);
        unSubscribe();
        resolve();
      } else if (failFast && (s === 'failed' || s === 'closed')) {
        clearTimeout(timer);
        unSubscribe();
        reject(new Error(`${what} ${s}`));
      }
    });
  });
}

/** werift options that keep ICE on 127.0.0.1 (a fresh object each call: werift may keep it). */
export function loopbackIce(): {
  iceInterfaceAddresses: { udp4: string };
  iceAdditionalHostAddresses: string[];
  iceUseIpv6: boolean;
} {
  return {
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
  };
}
