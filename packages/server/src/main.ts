import { tuneV8ForMedia } from '@trackroom/media-worker';
import { addressWarnings } from './address-warnings.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger, levelFromEnv } from './logger.js';
import { attachMediaPlane } from './media/media-plane.js';
import { createServer } from './server.js';

/** `npm start`: the whole server on the embedded defaults. */
async function main(): Promise<void> {
  // The media plane runs in this process with MEDIA_WORKERS=1 (see v8-tuning.ts).
  tuneV8ForMedia();
  // Signals are handled from the first instant: one that arrives while the server is starting is
  // kept and runs the graceful shutdown once the server is up (never the default exit, which would
  // skip finalising recordings).
  const signals: { handle?: (sig: string) => void; early: string[] } = { early: [] };
  const onSignal = (sig: string) => (signals.handle ? signals.handle(sig) : signals.early.push(sig));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const logger = createLogger(levelFromEnv(process.env.LOG_LEVEL));
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`configuration error: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  // Setups where browsers elsewhere would get no media, no microphone or loopback links.
  for (const w of addressWarnings(config)) {
    logger.warn(
      { subsystem: 'config', code: w.code, host: config.host, rtcBindAddress: config.ice.bindAddress },
      w.message,
    );
  }
  const level = levelFromEnv(process.env.LOG_LEVEL);
  const workerLogLevel = level === 'silent' ? 'error' : level;
  const server = await createServer(config, {
    logger,
    media: (deps, http) => attachMediaPlane(deps, http, { workerLogLevel }),
  });
  const port = await server.listen();
  const base = `${server.publicUrl()}/client/v4/accounts/${config.accountId}/realtime/kit`;
  process.stdout.write(
    [
      `trackroom listening on http://${config.host}:${port}`,
      `  account id : ${config.accountId}`,
      `  default app: ${server.defaultAppId}`,
      `  API base   : ${base}`,
      `  API docs   : ${server.publicUrl()}/docs`,
      config.apiTokenGenerated
        ? `  API token  : ${config.apiToken}   (generated now, kept in ${config.dataDir}/api-token; shown once)`
        : '',
      '',
    ]
      .filter((l) => l !== '')
      .join('\n') + '\n',
  );
  // Graceful shutdown: recordings are finalised, signalling sockets close with 1001 (going away),
  // HTTP connections get SHUTDOWN_DRAIN_SECONDS and are then closed. A second signal, or a shutdown
  // that takes longer than the drain time plus 30 s, exits at once.
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) {
      logger.warn({ sig }, 'second signal during shutdown: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ sig }, 'shutting down');
    const hard = setTimeout(() => {
      logger.error({ sig }, 'shutdown took too long: exiting now');
      process.exit(1);
    }, config.shutdownDrainMs + 30_000);
    hard.unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  signals.handle = shutdown;
  for (const sig of signals.early.splice(0)) shutdown(sig);
}

main().catch((err: unknown) => {
  process.stderr.write(`trackroom failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
