import type { FastifyInstance } from 'fastify';
import { RtkError } from '@trackroom/protocol';
import { API_PREFIX } from '../http/app.js';

/**
 * Contract routes for features this server does not have. They authenticate and check the app like
 * every route, then answer 501 in the envelope with what is missing: never a fake success.
 */
const UNSUPPORTED: { method: 'GET' | 'POST'; path: string; feature: string }[] = [
  { method: 'GET', path: '/:app_id/analytics/daywise', feature: 'Analytics' },
  { method: 'GET', path: '/:app_id/analytics/livestreams/daywise', feature: 'Livestream analytics' },
  { method: 'GET', path: '/:app_id/analytics/livestreams/overall', feature: 'Livestream analytics' },
  { method: 'GET', path: '/:app_id/livestreams', feature: 'Livestreaming' },
  { method: 'POST', path: '/:app_id/livestreams', feature: 'Livestreaming' },
  { method: 'GET', path: '/:app_id/livestreams/sessions/:livestream_session_id', feature: 'Livestreaming' },
  { method: 'GET', path: '/:app_id/livestreams/:livestream_id', feature: 'Livestreaming' },
  {
    method: 'GET',
    path: '/:app_id/livestreams/:livestream_id/active-livestream-session',
    feature: 'Livestreaming',
  },
  { method: 'GET', path: '/:app_id/meetings/:meeting_id/active-livestream', feature: 'Livestreaming' },
  { method: 'POST', path: '/:app_id/meetings/:meeting_id/active-livestream/stop', feature: 'Livestreaming' },
  { method: 'GET', path: '/:app_id/meetings/:meeting_id/livestream', feature: 'Livestreaming' },
  { method: 'POST', path: '/:app_id/meetings/:meeting_id/livestreams', feature: 'Livestreaming' },
  { method: 'POST', path: '/:app_id/meetings/:meeting_id/active-session/poll', feature: 'Polls' },
  { method: 'GET', path: '/:app_id/sessions/:session_id/chat', feature: 'Chat export' },
  { method: 'GET', path: '/:app_id/sessions/:session_id/summary', feature: 'Session summaries' },
  { method: 'POST', path: '/:app_id/sessions/:session_id/summary', feature: 'Session summaries' },
  { method: 'GET', path: '/:app_id/sessions/:session_id/transcript', feature: 'Transcripts' },
  { method: 'GET', path: '/:app_id/sessions/:session_id/livestream-sessions', feature: 'Livestreaming' },
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
