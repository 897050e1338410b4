/** Starts a real Sfu behind a real HTTP server on 127.0.0.1 for component tests and benchmarks. */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RtkError, SIGNALLING_PATH, SIGNALLING_TOKEN_PARAM } from '@trackroom/protocol';
import type { Logger, PeerIdentity, RecordingInfo } from '@trackroom/protocol';
import { refuseUpgrade } from '../refuse-upgrade.js';
import { Sfu } from '../sfu.js';
import type { SfuOptions, SignallingAdmission } from '../sfu.js';

/** A UDP port free right now on 127.0.0.1 (for the ICE UDP mux). */
export async function freeUdpPort(): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const { port } = sock.address();
  await new Promise<void>((resolve) => sock.close(() => resolve()));
  return port;
}

export interface TestSfu {
  sfu: Sfu;
  /** ws://127.0.0.1:<port>/ws?authToken=<token> */
  url(token: string): string;
  /** Registers a token for an identity; defaults fill the rest. */
  addToken(
    token: string,
    identity: Partial<PeerIdentity> & { meetingId: string; participantId: string },
  ): void;
  /**
   * Makes the server admit this token as a control plane would: the upgrade is handed to the Sfu as
   * a plain `{ method, url, headers }` object with this admission (no `authenticate` call), or
   * refused with `refuseUpgrade` when an RtkError is given.
   */
  admitToken(token: string, admission: SignallingAdmission | RtkError): void;
  authCalls: number;
  close(): Promise<void>;
}

export async function startTestSfu(
  opts: { logger?: Logger; recordings?: RecordingInfo[]; sfu?: Partial<SfuOptions> } = {},
): Promise<TestSfu> {
  const tokens = new Map<string, PeerIdentity>();
  const admissions = new Map<string, SignallingAdmission | RtkError>();
  const udpMuxPort = await freeUdpPort();
  const state: TestSfu = {
    sfu: undefined as unknown as Sfu,
    authCalls: 0,
    url: () => '',
    addToken(token, identity) {
      tokens.set(token, {
        customParticipantId: `custom-${identity.participantId}`,
        name: `name-${identity.participantId}`,
        presetName: 'group_call_host',
        canProduceAudio: true,
        canProduceVideo: true,
        hidden: false,
        meetingTitle: '',
        ...identity,
      });
    },
    admitToken(token, admission) {
      admissions.set(token, admission);
    },
    close: async () => undefined,
  };
  const sfu = new Sfu({
    authenticate: async (token) => {
      state.authCalls++;
      if (token === 'expired') throw new RtkError('TOKEN_EXPIRED');
      const id = tokens.get(token);
      if (!id) throw new RtkError('TOKEN_INVALID');
      return id;
    },
    ice: { bindAddress: '127.0.0.1', udpMuxPort },
    ...(opts.logger ? { logger: opts.logger } : {}),
    initialState: async () => ({ recordings: opts.recordings ?? [] }),
    ...opts.sfu,
  });
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== SIGNALLING_PATH) {
      socket.destroy();
      return;
    }
    const admission = admissions.get(url.searchParams.get(SIGNALLING_TOKEN_PARAM) ?? '');
    // The request as data, the way it crosses a process boundary.
    const plain = { method: req.method, url: req.url, headers: { ...req.headers } };
    if (admission instanceof RtkError) refuseUpgrade(plain, socket, head, admission);
    else if (admission) sfu.handleUpgrade(plain, socket, head, admission);
    else sfu.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.sfu = sfu;
  state.url = (token) => `ws://127.0.0.1:${port}${SIGNALLING_PATH}?authToken=${encodeURIComponent(token)}`;
  state.close = async () => {
    await sfu.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
