/** Refusing a signalling socket the way a failed authentication does (error message, close 4001). */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { RtkError, SignallingCloseCodes, errorMessage } from '@trackroom/protocol';
import type { ServerMessage } from '@trackroom/protocol';
import type { UpgradeRequest } from './sfu-types.js';

/** The `error` message of a refused admission: an RtkError as is, anything else as TOKEN_INVALID. */
export function authFailure(err: unknown): ServerMessage {
  return errorMessage(err instanceof RtkError ? err : new RtkError('TOKEN_INVALID'));
}

let refusals: WebSocketServer | undefined;

/**
 * Completes the WebSocket handshake only to refuse: sends the signalling `error` message for `err`
 * and closes with the close code a failed authentication uses (4001). For a control plane that
 * authenticates before handing a socket to an Sfu.
 */
export function refuseUpgrade(req: UpgradeRequest, socket: Duplex, head: Buffer, err: RtkError): void {
  refusals ??= new WebSocketServer({ noServer: true, perMessageDeflate: false });
  refusals.handleUpgrade(req as IncomingMessage, socket, head, (ws) => {
    ws.send(JSON.stringify(authFailure(err)));
    ws.close(SignallingCloseCodes.AUTH_FAILED);
  });
}

/**
 * Completes the handshake only to send the client elsewhere: a `redirect` message naming the server
 * that hosts the meeting, then close {@link SignallingCloseCodes}.REDIRECT.
 */
export function redirectUpgrade(
  req: UpgradeRequest,
  socket: Duplex,
  head: Buffer,
  to: { nodeUrl: string; nodeId: string },
): void {
  refusals ??= new WebSocketServer({ noServer: true, perMessageDeflate: false });
  refusals.handleUpgrade(req as IncomingMessage, socket, head, (ws) => {
    const msg: ServerMessage = { type: 'redirect', nodeUrl: to.nodeUrl, nodeId: to.nodeId };
    ws.send(JSON.stringify(msg));
    ws.close(SignallingCloseCodes.REDIRECT);
  });
}
