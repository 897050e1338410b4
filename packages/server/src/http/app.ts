import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { RtkError, isRtkError, type Logger } from '@trackroom/protocol';
import { adminTokenMatches } from '../auth/jwt.js';
import { isStorageFull } from '../services/disk-space.js';
import type { ServerConfig } from '../config.js';
import type { Repository } from '../store/repository.js';

export const API_PREFIX = '/client/v4/accounts/:account_id/realtime/kit';
const BODY_LIMIT = 1024 * 1024;

export interface HttpAppOptions {
  config: ServerConfig;
  repo: Repository;
  logger: Logger;
}

interface ValidationIssue {
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
  keyword: string;
}

/** Turns Ajv's first issue into "body.field must be string" style text naming the field. */
export function describeValidation(context: string | undefined, issues: ValidationIssue[]): string {
  const where = context === 'querystring' ? 'query' : (context ?? 'request');
  return issues
    .slice(0, 3)
    .map((v) => {
      const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
      if (v.keyword === 'required')
        return `${where}.${path ? path + '.' : ''}${String(v.params.missingProperty)} is required`;
      if (v.keyword === 'enum')
        return `${where}.${path} must be one of ${(v.params.allowedValues as unknown[]).map(String).join(', ')}`;
      return `${where}${path ? '.' + path : ''} ${v.message ?? 'is invalid'}`;
    })
    .join('; ');
}

function sendError(reply: FastifyReply, err: RtkError): void {
  void reply.status(err.status).send({ success: false, error: { code: err.status, message: err.message } });
}

/** One place turns any error into RealtimeKit's envelope; unknown errors become 500 without internals. */
export function toRtkError(err: unknown, logger: Logger): RtkError {
  if (isRtkError(err)) return err;
  const fe = err as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
  if (fe && Array.isArray(fe.validation)) {
    return new RtkError('VALIDATION_FAILED', describeValidation(fe.validationContext, fe.validation));
  }
  switch (fe?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new RtkError('BODY_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new RtkError('UNSUPPORTED_MEDIA_TYPE');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new RtkError('INVALID_JSON', 'Request body is empty but Content-Type is application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new RtkError('INVALID_JSON');
  }
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new RtkError('VALIDATION_FAILED', fe.message);
  }
  if (isStorageFull(err)) {
    logger.error({ err }, 'a write failed: the disk is full');
    return new RtkError('INSUFFICIENT_STORAGE');
  }
  logger.error({ err }, 'unhandled error');
  return new RtkError('INTERNAL');
}

export function createHttpApp(opts: HttpAppOptions): FastifyInstance {
  const { config, repo, logger } = opts;
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    logger: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  });

  // Bodies are validated strictly (a number is never coerced into a string); query strings and
  // path parameters are text on the wire, so they are coerced to the schema's types.
  const strict = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, strict: false });
  const coercing = new Ajv({ allErrors: false, coerceTypes: 'array', useDefaults: true, strict: false });
  addFormats.default(strict);
  addFormats.default(coercing);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? strict.compile(schema) : coercing.compile(schema),
  );

  // JSON parsing of our own: a clear INVALID_JSON instead of a parser message. JSON is the only
  // body type (no text/plain parser), so any other content type is 415 UNSUPPORTED_MEDIA_TYPE.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text) as unknown);
    } catch (e) {
      done(
        new RtkError('INVALID_JSON', `Request body is not valid JSON: ${(e as Error).message}`),
        undefined,
      );
    }
  });

  // An absent body on a route that takes one is an empty object: "body.name is required" names
  // the missing field, and routes whose fields are all optional accept a bare POST.
  app.addHook('preValidation', async (req: FastifyRequest) => {
    if (req.body === undefined && req.routeOptions.schema?.body) req.body = {};
  });

  app.setErrorHandler((err, _req, reply) => sendError(reply, toRtkError(err, logger)));
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new RtkError('ROUTE_NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`)),
  );

  // Admin auth and account/app scoping for every API route.
  app.addHook('onRequest', async (req: FastifyRequest) => {
    if (!req.url.startsWith('/client/v4/')) return;
    if (!adminTokenMatches(config.apiToken, req.headers.authorization)) {
      throw new RtkError('UNAUTHORIZED');
    }
  });
  app.addHook('preHandler', async (req: FastifyRequest) => {
    if (!req.routeOptions.url?.startsWith(API_PREFIX)) return;
    const p = req.params as { account_id?: string; app_id?: string };
    if (p.account_id !== config.accountId)
      throw new RtkError('NOT_FOUND', `Account ${p.account_id} not found`);
    if (p.app_id !== undefined) {
      const found = await repo.apps.get(p.app_id);
      if (!found || found.account_id !== config.accountId)
        throw new RtkError('NOT_FOUND', `App ${p.app_id} not found`);
    }
  });

  return app;
}
