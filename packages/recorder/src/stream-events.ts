/** Values shared by several pipeline stages. */

/** End-of-stream passed through the pipeline as a value, carrying the stop instant (wall-clock ms). */
export interface EndOfStream {
  readonly kind: 'end';
  readonly atMs: number;
}

/** Time passing without media (wall-clock ms): lets stages release held data and write silence. */
export interface Tick {
  readonly kind: 'tick';
  readonly nowMs: number;
}
