/**
 * Polls `fn` every 50 ms until it answers true; fails naming `what` after `timeoutMs`. For state the
 * test can only read (a REST answer, a file on disk), where no event says it changed.
 */
export async function until(
  what: string,
  fn: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
