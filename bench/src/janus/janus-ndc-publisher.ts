/**
 * A node-datachannel publisher in a Janus VideoRoom, the counterpart of {@link JanusPublisher}
 * (werift) at a fraction of its CPU: joins as publisher, publishes one Opus track (the offer goes in
 * `publish`, the answer comes back in its event) and sends prerecorded Opus at real pace on the
 * process's shared packet clock, like the trackroom load publishers. ICE only on `address` (the
 * bench's interface inside its namespace: Janus gathers nothing on loopback).
 */
import { NdcOpusSender, withheldCandidates } from '@trackroom/e2e/support';
import type { JanusSession } from './janus-api.js';
import { VIDEOROOM } from './janus-rooms.js';

export class JanusNdcPublisher {
  readonly #session: JanusSession;
  readonly #handle: number;
  readonly #sender: NdcOpusSender;
  #left = false;

  private constructor(session: JanusSession, handle: number, sender: NdcOpusSender) {
    this.#session = session;
    this.#handle = handle;
    this.#sender = sender;
  }

  /** Packets accepted by libdatachannel for sending. */
  get sent(): number {
    return this.#sender.sent;
  }

  /** Packets libdatachannel refused (the track was not open). */
  get refused(): number {
    return this.#sender.refused;
  }

  /** Joins `room` and publishes; resolves once the connection is up and the track open. */
  static async connect(
    session: JanusSession,
    room: number,
    o: { address: string; display: string; timeoutMs?: number },
  ): Promise<JanusNdcPublisher> {
    const handle = await session.attach(VIDEOROOM);
    const sender = new NdcOpusSender({ label: `janus-${o.display}`, bindAddress: o.address });
    const p = new JanusNdcPublisher(session, handle, sender);
    try {
      await session.message(handle, { request: 'join', ptype: 'publisher', room, display: o.display });
      // Candidates follow the answer, as for the trackroom publisher (see withheldCandidates); Janus,
      // offered actpass, answers active: it starts DTLS once its own ICE is up.
      const { sdp, candidates } = withheldCandidates(await sender.offer());
      const ev = await session.message(
        handle,
        { request: 'publish', audio: true, video: false, data: false },
        { type: 'offer', sdp },
      );
      if (ev.jsep?.type !== 'answer') throw new Error(`janus publish: no answer in ${JSON.stringify(ev)}`);
      sender.accept(ev.jsep.sdp);
      await session.trickle(handle, candidates);
      await sender.connected(o.timeoutMs ?? 15_000);
      return p;
    } catch (err) {
      await p.leave();
      throw err;
    }
  }

  /** See {@link NdcOpusSender.play}. */
  play(packets: Uint8Array[], drop?: (i: number) => boolean): void {
    this.#sender.play(packets, drop);
  }

  /** Pauses (false) or resumes (true) sending; the RTP clock keeps running. */
  setSending(on: boolean): void {
    this.#sender.setSending(on);
  }

  stopPlaying(): void {
    this.#sender.stopPlaying();
  }

  /** Detaches from Janus and closes the connection. Idempotent. */
  async leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    this.#sender.stopPlaying();
    try {
      await this.#session.detach(this.#handle);
    } finally {
      this.#sender.close();
    }
  }
}
