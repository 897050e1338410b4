import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { RtkError, isRtkError, type ErrorCode, type Logger } from '@trackroom/protocol';
import { adminTokenMatches } from '../auth/jwt.js';
import {
  ASKED_AT_HEADER,
  FORWARDED_HEADER,
  askedAtMs,
  type ForwardedAnswer,
  type ForwardedRequest,
} from '../cluster/forwarding.js';
import { isStorageFull } from '../services/disk-space.js';
import type { ServerConfig } from '../config.js';
import type { Repository } from '../store/repository.js';

export const API_PREFIX = '/client/v4/accounts/:account_id/realtime/kit';
const BODY_LIMIT = 1024 * 1024;
/** A path parameter longer than this is refused (414) before routing reads it. */
export const MAX_PARAM_LENGTH = 200;
/** A URL (path and query) longer than this is refused with 414 in the envelope, after the auth check. */
export const MAX_URL_LENGTH = 8 * 1024;
/**
 * What Node's HTTP parser accepts for the request line plus headers. Above it the parser gives up
 * before any header is read, so the answer (431) cannot wait for the auth check; up to it, a long
 * URL reaches the router and gets 401 or 414 like any other request.
 */
export const MAX_HEADER_BYTES = 64 * 1024;

export interface HttpAppOptions {
  config: ServerConfig;
  repo: Repository;
  logger: Logger;
  /**
   * With REDIS_URL: a request refused with HOSTED_ELSEWHERE (it acts on a live session or
   * recording another node hosts) is replayed there and answered with that node's answer.
   * Set once the cluster is up (`forwarding.to`).
   */
  forwarding?: { to?: (nodeId: string, req: ForwardedRequest) => Promise<ForwardedAnswer> };
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
      if (v.keyword === 'additionalProperties')
        return `${where}${path ? '.' + path : ''} has unknown property ${JSON.stringify(String(v.params.additionalProperty))}`;
      if (v.keyword === 'enum')
        return `${where}.${path} must be one of ${(v.params.allowedValues as unknown[]).map(String).join(', ')}`;
      return `${where}${path ? '.' + path : ''} ${v.message ?? 'is invalid'}`;
    })
    .join('; ');
}

const envelope = (err: RtkError) => ({ success: false, error: { code: err.status, message: err.message } });

function sendError(reply: FastifyReply, err: RtkError): void {
  void reply.status(err.status).send(envelope(err));
}

/** Routes under /client/v4/ need the admin token, checked before anything else is revealed. */
const isAdminUrl = (url: string) => url.startsWith('/client/v4/');

/** Registry codes for the HTTP statuses Fastify's own 4xx errors carry. */
const BY_STATUS: Partial<Record<number, ErrorCode>> = {
  404: 'ROUTE_NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  413: 'BODY_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  431: 'HEADERS_TOO_LARGE',
};

/**
 * Errors of the HTTP parser, before Fastify has a request (the headers were never read, so no auth
 * check is possible): the envelope written straight to the socket, then the connection is closed.
 */
function clientErrorHandler(logger: Logger) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    // A reset connection has nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const e =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? new RtkError('HEADERS_TOO_LARGE')
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new RtkError('REQUEST_TIMEOUT')
          : new RtkError('MALFORMED_REQUEST');
    logger.debug({ code: err.code, status: e.status }, 'refused a request the HTTP parser could not read');
    const body = JSON.stringify(envelope(e));
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

/** One place turns any error into RealtimeKit's envelope; unknown errors become 500 without internals. */
export function toRtkError(err: unknown, logger: Logger): RtkError {
  if (isRtkError(err)) return err;
  const fe = err as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
  if (fe && Array.isArray(fe.validation)) {
    return new RtkError('VALIDATION_FAILED', describeValidation(fe.validationContext, fe.validation));
  }
  switch (fe?.code) {
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_INVALID_URL':
      return new RtkError('VALIDATION_FAILED', 'The URL is not valid (bad percent-encoding or characters)');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new RtkError('URI_TOO_LONG', `A path parameter is longer than ${MAX_PARAM_LENGTH} characters`);
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
    const code = BY_STATUS[fe.statusCode];
    return code ? new RtkError(code) : new RtkError('VALIDATION_FAILED', fe.message);
  }
  if (isStorageFull(err)) {
    logger.error({ err }, 'a write failed: the disk is full');
    return new RtkError('INSUFFICIENT_STORAGE');
  }
  logger.error({ err }, 'unhandled error');
  return new RtkError('INTERNAL');
}

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The instant (epoch ms) the request's action is for: when this node received it, or for a
     * request forwarded by another node, when that node did (cluster/forwarding.ts `askedAtMs`).
     */
    askedAtMs: number;
  }
}

export function createHttpApp(opts: HttpAppOptions): FastifyInstance {
  const { config, repo, logger } = opts;
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    logger: false,
    http: { maxHeaderSize: MAX_HEADER_BYTES },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // Errors of the router (bad percent-encoding, an over-long parameter) come before the hooks:
    // the auth check is made here too, so an unauthenticated request learns nothing but 401.
    frameworkErrors: (err, req, reply) => {
      if (isAdminUrl(req.url) && !adminTokenMatches(config.apiTokens, req.headers.authorization)) {
        sendError(reply, new RtkError('UNAUTHORIZED'));
        return;
      }
      sendError(reply, toRtkError(err, logger));
    },
    clientErrorHandler: clientErrorHandler(logger),
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

  app.setErrorHandler(async (err, req, reply) => {
    const to = opts.forwarding?.to;
    const nodeId =
      err instanceof RtkError && err.code === 'HOSTED_ELSEWHERE' ? err.details?.node_id : undefined;
    if (!to || typeof nodeId !== 'string' || req.headers[FORWARDED_HEADER] !== undefined) {
      sendError(reply, toRtkError(err, logger));
      return reply;
    }
    try {
      const headers: Record<string, string> = {};
      for (const h of ['authorization', 'content-type']) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      headers[ASKED_AT_HEADER] = String(req.askedAtMs);
      const answer = await to(nodeId, {
        method: req.method,
        url: req.url,
        headers,
        ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
      });
      return reply.status(answer.status).type(answer.contentType).send(answer.body);
    } catch (e) {
      sendError(reply, toRtkError(e, logger));
      return reply;
    }
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new RtkError('ROUTE_NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`)),
  );

  app.decorateRequest('askedAtMs', 0);
  // Admin auth and account/app scoping for every API route.
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const now = Date.now();
    req.askedAtMs = askedAtMs(req.headers, now, now);
    if (isAdminUrl(req.url) && !adminTokenMatches(config.apiTokens, req.headers.authorization)) {
      throw new RtkError('UNAUTHORIZED');
    }
    if (req.url.length > MAX_URL_LENGTH) {
      throw new RtkError('URI_TOO_LONG', `The URL is longer than ${MAX_URL_LENGTH} characters`);
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
