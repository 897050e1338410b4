import type { Logger } from '@trackroom/protocol';
import type { ParticipantTokens } from '../auth/jwt.js';
import type { UrlSigner } from '../auth/signed-urls.js';
import type { ServerConfig } from '../config.js';
import type { Repository } from '../store/repository.js';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';
import type { SessionService } from '../services/session-service.js';
import type { RecordingService } from '../services/recording-service.js';
import type { SecretBox } from '../storage/secret-box.js';
import type { Hosting } from '../cluster/forwarding.js';
import type { OutboundPolicy } from '../services/outbound-url.js';

/** What route modules get: collaborators only, never the whole server. */
export interface RouteDeps {
  config: ServerConfig;
  repo: Repository;
  logger: Logger;
  tokens: ParticipantTokens;
  signer: UrlSigner;
  webhooks: WebhookDispatcher;
  sessions: SessionService;
  recordings: RecordingService;
  /** Seals storage credentials (storage_config) before they are stored. */
  secrets: SecretBox;
  /** The rules for URLs the server contacts on a user's behalf (webhook targets). */
  outbound: OutboundPolicy;
  /** Absent until the media plane runs; kick and mute then answer NO_ACTIVE_SESSION. */
  media?: MediaControl;
  /** With REDIS_URL: where a joining participant's meeting is hosted (placed at its first join). */
  cluster?: { hostFor(meetingId: string): Promise<Hosting> };
}

/** What the REST API may ask of the media plane (active-session kick and mute). */
export interface MediaControl {
  kick(meetingId: string, peerIds?: string[]): Promise<string[]>;
  muteAudio(meetingId: string, peerIds?: string[]): Promise<string[]>;
}
