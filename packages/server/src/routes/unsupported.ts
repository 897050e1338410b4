import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import { API_PREFIX } from '../http/app.js';

/**
 * Contract routes for features this server does not have. They authenticate and check the app like
 * every route, then answer 501 in the envelope with what is missing: never a fake success.
 */
const UNSUPPORTED: { method: 'GET' | 'POST'; path: string; summary: string; feature: string }[] = [
  {
    method: 'GET',
    path: '/:app_id/analytics/daywise',
    summary: 'Day-by-day usage analytics of the app',
    feature: 'Analytics',
  },
  {
    method: 'GET',
    path: '/:app_id/analytics/livestreams/daywise',
    summary: 'Day-by-day livestream analytics',
    feature: 'Livestream analytics',
  },
  {
    method: 'GET',
    path: '/:app_id/analytics/livestreams/overall',
    summary: 'Overall livestream analytics',
    feature: 'Livestream analytics',
  },
  {
    method: 'GET',
    path: '/:app_id/livestreams',
    summary: "List the app's livestreams",
    feature: 'Livestreaming',
  },
  { method: 'POST', path: '/:app_id/livestreams', summary: 'Create a livestream', feature: 'Livestreaming' },
  {
    method: 'GET',
    path: '/:app_id/livestreams/sessions/:livestream_session_id',
    summary: 'Get one livestream session',
    feature: 'Livestreaming',
  },
  {
    method: 'GET',
    path: '/:app_id/livestreams/:livestream_id',
    summary: 'Get one livestream',
    feature: 'Livestreaming',
  },
  {
    method: 'GET',
    path: '/:app_id/livestreams/:livestream_id/active-livestream-session',
    summary: "Get a livestream's live session",
    feature: 'Livestreaming',
  },
  {
    method: 'GET',
    path: '/:app_id/meetings/:meeting_id/active-livestream',
    summary: "Get a meeting's running livestream",
    feature: 'Livestreaming',
  },
  {
    method: 'POST',
    path: '/:app_id/meetings/:meeting_id/active-livestream/stop',
    summary: "Stop a meeting's livestream",
    feature: 'Livestreaming',
  },
  {
    method: 'GET',
    path: '/:app_id/meetings/:meeting_id/livestream',
    summary: "Get a meeting's livestream",
    feature: 'Livestreaming',
  },
  {
    method: 'POST',
    path: '/:app_id/meetings/:meeting_id/livestreams',
    summary: 'Start livestreaming a meeting',
    feature: 'Livestreaming',
  },
  {
    method: 'POST',
    path: '/:app_id/meetings/:meeting_id/active-session/poll',
    summary: 'Create a poll in the live session',
    feature: 'Polls',
  },
  {
    method: 'GET',
    path: '/:app_id/sessions/:session_id/chat',
    summary: "Export a session's chat",
    feature: 'Chat export',
  },
  {
    method: 'GET',
    path: '/:app_id/sessions/:session_id/summary',
    summary: "Get a session's summary",
    feature: 'Session summaries',
  },
  {
    method: 'POST',
    path: '/:app_id/sessions/:session_id/summary',
    summary: "Generate a session's summary",
    feature: 'Session summaries',
  },
  {
    method: 'GET',
    path: '/:app_id/sessions/:session_id/transcript',
    summary: "Get a session's transcript",
    feature: 'Transcripts',
  },
  {
    method: 'GET',
    path: '/:app_id/sessions/:session_id/livestream-sessions',
    summary: "List a session's livestream sessions",
    feature: 'Livestreaming',
  },
];

export const UNSUPPORTED_ROUTES = UNSUPPORTED;

export function unsupportedRoutes(app: FastifyInstance): void {
  for (const r of UNSUPPORTED) {
    app.route({
      method: r.method,
      url: `${API_PREFIX}${r.path}`,
      schema: { params: { type: 'object', properties: { app_id: { type: 'string', format: 'uuid' } } } },
      handler: async () => {
        throw new RtkError(
          'NOT_IMPLEMENTED',
          `${r.feature} is not supported by this server (see docs/api.md)`,
        );
      },
    });
  }
}
