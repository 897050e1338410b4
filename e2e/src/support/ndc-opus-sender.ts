/**
 * A sendonly Opus sender on node-datachannel: one {@link NdcAudioPeer}, the RTP of one stream
 * ({@link OpusRtpStream}) and a place on a shared {@link PacketClock}, so any number of senders in a
 * process are paced by one timer. Prerecorded 20 ms frames go out at real pace; a sender report
 * follows about once a second (as werift's sender does), which the SFU answers with a receiver
 * report. The signalling that carries the offer and answer is the caller's.
 */
import { NdcAudioPeer } from './ndc-audio-peer.js';
import { OpusRtpStream } from './opus-rtp-stream.js';
import { sharedPacketClock, type PacketClock } from './packet-clock.js';

export interface NdcOpusSenderOptions {
  label: string;
  bindAddress: string;
  /** Default 111. */
  payloadType?: number;
  /** Default: the process's {@link sharedPacketClock}. */
  clock?: PacketClock;
  /** Frames between sender reports. Default 50 (1 s). 0: none. */
  senderReportFrames?: number;
}

export interface NdcPlayOptions {
  /** The sender's audio clock against real time (see {@link PacketClock}). Default 1. */
  clockSpeed?: number;
  /** Hears of every packet sent: frame number of this play, wall-clock ms due and sent. */
  onSent?: (i: number, dueMs: number, sentMs: number) => void;
}

export class NdcOpusSender {
  readonly peer: NdcAudioPeer;
  readonly stream: OpusRtpStream;
  /** RTP packets handed to libdatachannel (accepted by it). */
  sent = 0;
  /** Packets libdatachannel refused (track not open or closed under us). */
  refused = 0;
  readonly #clock: PacketClock;
  readonly #srFrames: number;
  readonly #srPhase: number;
  #stop: (() => void) | undefined;
  #sending = true;

  constructor(o: NdcOpusSenderOptions) {
    this.stream = new OpusRtpStream({ payloadType: o.payloadType ?? 111 });
    this.peer = new NdcAudioPeer({
      label: o.label,
      bindAddress: o.bindAddress,
      direction: 'sendonly',
      payloadType: this.stream.payloadType,
      ssrc: this.stream.ssrc,
    });
    this.#clock = o.clock ?? sharedPacketClock();
    this.#srFrames = o.senderReportFrames ?? 50;
    // Reports of many senders spread over the second rather than all on one tick.
    this.#srPhase = Math.floor(Math.random() * Math.max(1, this.#srFrames));
  }

  /** The offer (see {@link NdcAudioPeer.offer}); receiver reports that come back are ignored. */
  async offer(timeoutMs?: number): Promise<string> {
    const sdp = await this.peer.offer(timeoutMs);
    // Incoming RTCP (the SFU's receiver reports) is read and dropped, so it never queues natively.
    this.peer.track?.onMessage(() => undefined);
    return sdp;
  }

  accept(answerSdp: string): void {
    this.peer.accept(answerSdp);
  }

  connected(timeoutMs: number): Promise<void> {
    return this.peer.connected(timeoutMs);
  }

  /**
   * Sends `packets` in a loop at real pace until {@link stopPlaying}; `drop(i)` skips frame i of this
   * play (its sequence number is used up: loss). Playing again continues the same RTP stream.
   */
  play(packets: Uint8Array[], drop: (i: number) => boolean = () => false, o: NdcPlayOptions = {}): void {
    this.stopPlaying();
    if (packets.length === 0) throw new Error('play: no packets');
    const origin = performance.timeOrigin;
    this.#stop = this.#clock.add(
      (i, dueMs) => {
        const frame = this.stream.frame(origin + dueMs);
        const track = this.peer.track;
        if (!track) return;
        if (this.#sending && !drop(i)) {
          let ok = false;
          try {
            ok = track.sendMessageBinary(this.stream.packet(frame, packets[i % packets.length]!));
          } catch {
            // The native track closed under us; counted as refused.
          }
          if (ok) {
            this.sent++;
            o.onSent?.(i, origin + dueMs, origin + performance.now());
          } else this.refused++;
        }
        if (this.#srFrames > 0 && frame % this.#srFrames === this.#srPhase) {
          const sr = this.stream.senderReport(origin + performance.now());
          if (sr) {
            try {
              track.sendMessageBinary(sr);
            } catch {
              // As above: a closed track sends nothing.
            }
          }
        }
      },
      o.clockSpeed === undefined ? {} : { clockSpeed: o.clockSpeed },
    );
  }

  /** Pauses (false) or resumes (true) sending; the RTP clock keeps running. */
  setSending(on: boolean): void {
    this.#sending = on;
  }

  stopPlaying(): void {
    this.#stop?.();
    this.#stop = undefined;
  }

  /** Idempotent. */
  close(): void {
    this.stopPlaying();
    this.peer.close();
  }
}
