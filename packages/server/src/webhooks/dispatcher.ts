import { type Logger, TypedEmitter } from '@trackroom/protocol';
import { newId, nowIso } from '../services/clock.js';
import { outboundRequest } from '../services/outbound-request.js';
import { OutboundRefusedError, type OutboundPolicy } from '../services/outbound-url.js';
import type { Repository } from '../store/repository.js';
import type { WebhookDeliveryRow } from '../store/types.js';
import type { WebhookSigningKey } from './signing-key.js';

export const WEBHOOK_EVENTS = [
  'meeting.started',
  'meeting.ended',
  'meeting.participantJoined',
  'meeting.participantLeft',
  'meeting.chatSynced',
  'recording.statusUpdate',
  'livestreaming.statusUpdate',
  'meeting.transcript',
  'meeting.summary',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface WebhookDispatcherOptions {
  repo: Repository;
  key: WebhookSigningKey;
  logger: Logger;
  maxAttempts: number;
  baseDelayMs: number;
  /** Which targets may be contacted; checked again at every attempt, on the address connected to. */
  policy: OutboundPolicy;
  /** Per-attempt timeout (default 10 s). */
  timeoutMs?: number;
  /** How much of a receiver's answer is read (default 64 KiB); the rest is dropped. */
  maxResponseBytes?: number;
}

/** Bounds of one delivery attempt. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** A claimed delivery is left to others this long after its send time limit. */
const CLAIM_MARGIN_MS = 5_000;
export const WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024;

export interface WebhookDispatcherEvents {
  [k: string]: unknown;
  delivered: { deliveryId: string; webhookId: string; event: string; attempts: number };
  failed: { deliveryId: string; webhookId: string; event: string; attempts: number; error: string };
  retryScheduled: { deliveryId: string; attempts: number; nextAttemptAt: string };
}

const MAX_BACKOFF_MS = 10 * 60 * 1000;

/**
 * Delivers webhooks for real: every delivery is a row in the store first (so a restart loses none),
 * then POSTed with `rtk-signature`, `rtk-uuid` and `rtk-webhook-id`. 5xx and network errors are
 * retried with exponential backoff up to maxAttempts; any other non-2xx fails at once, and so
 * does a target the outbound policy refuses (checked on the address the name resolves to at that
 * attempt). Redirects are never followed.
 */
export class WebhookDispatcher {
  /** Delivery outcomes, for tests and metrics. */
  readonly events = new TypedEmitter<WebhookDispatcherEvents>();
  readonly #o: WebhookDispatcherOptions;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;
  #closed = false;
  #inFlight = new Set<Promise<void>>();

  constructor(options: WebhookDispatcherOptions) {
    this.#o = options;
  }

  /** Picks up deliveries left pending by an earlier run. */
  start(): void {
    this.#schedule(0);
  }

  /** Queues one delivery per enabled webhook of the app that subscribes to `event`. */
  async enqueue(appId: string, event: WebhookEvent, payload: Record<string, unknown>): Promise<number> {
    if (this.#closed) return 0;
    const { rows } = await this.#o.repo.webhooks.list({ where: { app_id: appId, enabled: true } });
    const targets = rows.filter((w) => w.events.includes(event));
    const body = JSON.stringify({ event, ...payload });
    const now = nowIso();
    for (const w of targets) {
      await this.#o.repo.webhookDeliveries.insert({
        id: newId(),
        app_id: appId,
        webhook_id: w.id,
        url: w.url,
        event,
        body,
        status: 'PENDING',
        attempts: 0,
        next_attempt_at: now,
        last_error: null,
        created_at: now,
        updated_at: now,
      });
    }
    if (targets.length) this.#schedule(0);
    return targets.length;
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        void this.#pump();
      },
      Math.max(0, delayMs),
    );
    this.#timer.unref();
  }

  /**
   * Sends every due delivery, again and again while more become due (retries with short backoff,
   * enqueues that arrived meanwhile), then sleeps until the earliest pending one is due. Only one
   * pump runs at a time; a call while it runs makes it go round once more instead of being lost.
   */
  async #pump(): Promise<void> {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      let sent: number;
      do {
        this.#again = false;
        const { rows: due } = await this.#o.repo.webhookDeliveries.list({
          where: { status: 'PENDING' },
          range: { field: 'next_attempt_at', to: nowIso() },
          orderBy: { field: 'next_attempt_at', dir: 'ASC' },
          limit: 200,
        });
        await Promise.all(due.map((r) => this.#track(this.#attempt(r))));
        sent = due.length;
      } while ((sent > 0 || this.#again) && !this.#closed);
      const { rows: next } = await this.#o.repo.webhookDeliveries.list({
        where: { status: 'PENDING' },
        orderBy: { field: 'next_attempt_at', dir: 'ASC' },
        limit: 1,
      });
      if (next[0]) this.#schedule(Date.parse(next[0].next_attempt_at) - Date.now());
    } catch (err) {
      this.#o.logger.error({ err }, 'webhook pump failed; retrying in 1 s');
      this.#schedule(1000);
    } finally {
      this.#running = false;
    }
  }

  #track(p: Promise<void>): Promise<void> {
    this.#inFlight.add(p);
    return p.finally(() => this.#inFlight.delete(p));
  }

  async #attempt(due: WebhookDeliveryRow): Promise<void> {
    // Claim it first: with several nodes on one store exactly one sends it. The claim is a lease
    // (next_attempt_at moved past the send's time limit): a node that dies mid-send leaves it to be
    // sent again by another once the lease runs out (receivers dedupe on rtk-uuid).
    const leaseMs = (this.#o.timeoutMs ?? WEBHOOK_TIMEOUT_MS) + CLAIM_MARGIN_MS;
    const d = await this.#o.repo.webhookDeliveries.updateIf(
      due.id,
      { status: 'PENDING', next_attempt_at: due.next_attempt_at },
      { next_attempt_at: new Date(Date.now() + leaseMs).toISOString() },
    );
    if (!d) return; // another node has it, or it changed since it was listed
    const attempts = d.attempts + 1;
    let retryable = false;
    let error: string | null = null;
    try {
      const res = await outboundRequest(this.#o.policy, d.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'rtk-signature': this.#o.key.sign(d.body),
          'rtk-uuid': d.id,
          'rtk-webhook-id': d.webhook_id,
          'user-agent': 'trackroom-webhooks/0.1',
        },
        body: d.body,
        timeoutMs: this.#o.timeoutMs ?? WEBHOOK_TIMEOUT_MS,
        maxResponseBytes: this.#o.maxResponseBytes ?? WEBHOOK_MAX_RESPONSE_BYTES,
      });
      if (res.status >= 200 && res.status < 300) {
        await this.#o.repo.webhookDeliveries.update(d.id, {
          status: 'DELIVERED',
          attempts,
          last_error: null,
          updated_at: nowIso(),
        });
        this.#o.logger.debug({ deliveryId: d.id, event: d.event }, 'webhook delivered');
        this.events.emit('delivered', {
          deliveryId: d.id,
          webhookId: d.webhook_id,
          event: d.event,
          attempts,
        });
        return;
      }
      error =
        res.status >= 300 && res.status < 400
          ? `HTTP ${res.status} (redirects are not followed)`
          : `HTTP ${res.status}`;
      retryable = res.status >= 500;
    } catch (err) {
      if (err instanceof OutboundRefusedError) {
        error = `refused by the outbound rules (${err.rule}): ${err.message}`;
        this.#o.logger.warn(
          { deliveryId: d.id, webhookId: d.webhook_id, rule: err.rule, reason: err.message },
          'webhook target refused',
        );
      } else {
        error = (err as Error).message || String(err);
        retryable = true;
      }
    }
    if (this.#closed) return; // left PENDING: the next start retries it
    if (retryable && attempts < this.#o.maxAttempts) {
      const delay = Math.min(MAX_BACKOFF_MS, this.#o.baseDelayMs * 2 ** (attempts - 1));
      const nextAttemptAt = new Date(Date.now() + delay).toISOString();
      await this.#o.repo.webhookDeliveries.update(d.id, {
        attempts,
        last_error: error,
        next_attempt_at: nextAttemptAt,
        updated_at: nowIso(),
      });
      this.events.emit('retryScheduled', { deliveryId: d.id, attempts, nextAttemptAt });
    } else {
      await this.#o.repo.webhookDeliveries.update(d.id, {
        status: 'FAILED',
        attempts,
        last_error: error,
        updated_at: nowIso(),
      });
      this.#o.logger.warn({ deliveryId: d.id, event: d.event, error, attempts }, 'webhook delivery failed');
      this.events.emit('failed', {
        deliveryId: d.id,
        webhookId: d.webhook_id,
        event: d.event,
        attempts,
        error: error ?? '',
      });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.allSettled([...this.#inFlight]);
  }
}
