#!/usr/bin/env node
// A plain TCP forwarder: `node tcp-forward.mjs <listen-host> <listen-port> <target-host> <target-port>`.
// The TURN test runs it inside the TURN host's network namespace (where a reverse proxy for
// signalling would sit in a deployment), so participants reach the HTTP/WebSocket port only through
// it: TCP to one port, and nothing else. Prints "forwarding" once listening; exits on SIGTERM.
import { createConnection, createServer } from 'node:net';

const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2);
const server = createServer((client) => {
  const upstream = createConnection({ host: targetHost, port: Number(targetPort) });
  client.pipe(upstream).pipe(client);
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end);
  upstream.on('error', end);
  client.on('close', end);
  upstream.on('close', end);
});
server.listen(Number(listenPort), listenHost, () => process.stdout.write('forwarding\n'));
process.on('SIGTERM', () => process.exit(0));
