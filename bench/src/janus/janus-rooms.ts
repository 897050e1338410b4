/** VideoRoom rooms for the benchmark: audio-only Opus rooms, recording switched on and off per room. */
import type { JanusSession } from './janus-api.js';

export const VIDEOROOM = 'janus.plugin.videoroom';

/** An admin handle of the bench (its own session) that makes rooms and switches their recording. */
export class JanusRooms {
  readonly #session: JanusSession;
  readonly #handle: number;
  readonly #recDir: string;

  private constructor(session: JanusSession, handle: number, recDir: string) {
    this.#session = session;
    this.#handle = handle;
    this.#recDir = recDir;
  }

  static async open(session: JanusSession, recDir: string): Promise<JanusRooms> {
    return new JanusRooms(session, await session.attach(VIDEOROOM), recDir);
  }

  /** Rooms `first`, `first+1`, ...: audio only (Opus), not recording yet, recording into recDir. */
  async create(count: number, publishersPerRoom: number, first = 1000): Promise<number[]> {
    const ids = Array.from({ length: count }, (_, i) => first + i);
    for (const room of ids) {
      await this.#session.request(this.#handle, {
        request: 'create',
        room,
        description: `bench ${room}`,
        publishers: publishersPerRoom,
        audiocodec: 'opus',
        record: false,
        rec_dir: this.#recDir,
        notify_joining: false,
      });
    }
    return ids;
  }

  /** Starts or stops recording every participant of `room`; resolves when Janus has answered. */
  async setRecording(room: number, record: boolean): Promise<void> {
    await this.#session.request(this.#handle, { request: 'enable_recording', room, record });
  }
}
