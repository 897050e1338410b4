/**
 * A werift publisher in a Janus VideoRoom: joins as publisher, publishes one Opus track (the
 * SDP offer goes in `publish`, the answer comes back in its event) and sends prerecorded Opus at
 * real pace, like the trackroom bench publishers. ICE only on `address` (the bench's veth
 * interface inside its namespace).
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  type RTCRtpTransceiver,
} from 'werift';
import { connected, gathered } from '@trackroom/sfu/testing';
import type { JanusSession } from './janus-api.js';
import { VIDEOROOM } from './janus-rooms.js';

const PT = 111;

/** Only candidates on `address`. */
const onlyAddress = (sdp: string, address: string) =>
  sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') || l.includes(` ${address} `))
    .join('\r\n');

export class JanusPublisher {
  sent = 0;
  readonly #session: JanusSession;
  readonly #handle: number;
  readonly #pc: RTCPeerConnection;
  #tr: RTCRtpTransceiver | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sending = true;
  #seq = Math.floor(Math.random() * 65536);
  #ts = Math.floor(Math.random() * 2 ** 32);
  readonly #ssrc = (Math.random() * 2 ** 32) >>> 0;

  private constructor(session: JanusSession, handle: number, pc: RTCPeerConnection) {
    this.#session = session;
    this.#handle = handle;
    this.#pc = pc;
  }

  /** Joins `room` and publishes; resolves once the peer connection is up. */
  static async connect(
    session: JanusSession,
    room: number,
    o: { address: string; display: string; timeoutMs?: number },
  ): Promise<JanusPublisher> {
    const handle = await session.attach(VIDEOROOM);
    const pc = new RTCPeerConnection({
      codecs: {
        audio: [
          new RTCRtpCodecParameters({
            mimeType: 'audio/opus',
            clockRate: 48000,
            channels: 2,
            payloadType: PT,
          }),
        ],
        video: [],
      },
      iceInterfaceAddresses: { udp4: o.address },
      iceAdditionalHostAddresses: [o.address],
      iceUseIpv6: false,
    });
    const p = new JanusPublisher(session, handle, pc);
    try {
      await session.message(handle, { request: 'join', ptype: 'publisher', room, display: o.display });
      p.#tr = pc.addTransceiver('audio', { direction: 'sendonly' });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const ev = await session.message(
        handle,
        { request: 'publish', audio: true, video: false, data: false },
        { type: 'offer', sdp: onlyAddress(pc.localDescription!.sdp, o.address) },
      );
      if (ev.jsep?.type !== 'answer') throw new Error(`janus publish: no answer in ${JSON.stringify(ev)}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: ev.jsep.sdp });
      await connected(pc, o.timeoutMs ?? 15_000, 'janus publish connection', false);
      return p;
    } catch (err) {
      await p.leave();
      throw err;
    }
  }

  /**
   * Sends `packets` (20 ms Opus frames) in a loop at real pace; `drop(i)` skips packet i (its
   * sequence number is used up: loss). While paused the RTP clock runs on and nothing is sent.
   */
  play(packets: Uint8Array[], drop: (i: number) => boolean = () => false): void {
    this.stopPlaying();
    const start = performance.now();
    let i = 0;
    this.#timer = setInterval(() => {
      const due = Math.floor((performance.now() - start) / 20);
      while (i <= due) {
        const seq = this.#seq;
        const ts = this.#ts;
        this.#seq = (this.#seq + 1) & 0xffff;
        this.#ts = (this.#ts + 960) >>> 0;
        if (this.#sending && !drop(i) && this.#tr) {
          const header = new RtpHeader({
            payloadType: PT,
            sequenceNumber: seq,
            timestamp: ts,
            ssrc: this.#ssrc,
            marker: false,
          });
          this.#tr.sender
            .sendRtp(new RtpPacket(header, Buffer.from(packets[i % packets.length]!)))
            .catch(() => undefined);
          this.sent++;
        }
        i++;
      }
    }, 5);
  }

  /** Pauses (false) or resumes (true) sending; the RTP clock keeps running. */
  setSending(on: boolean): void {
    this.#sending = on;
  }

  stopPlaying(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async leave(): Promise<void> {
    this.stopPlaying();
    await this.#session.detach(this.#handle);
    await this.#pc.close();
  }
}
