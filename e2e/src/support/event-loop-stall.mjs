// Test hook, preloaded into the server with `node --import`: blocks the event loop in episodes, as a
// loaded server does. TRACKROOM_E2E_STALL="cycleMs:episodeMs:busyMs:yieldMs": from the first SIGUSR2
// on, in the first episodeMs of every cycleMs the loop is busy for busyMs, then free for yieldMs, again
// and again. Unset: no-op.
const spec = process.env.TRACKROOM_E2E_STALL;
if (spec) {
  const [cycleMs, episodeMs, busyMs, yieldMs] = spec.split(':').map(Number);
  let origin = 0;
  let stalls = 0;
  const stall = () => {
    const inCycle = (performance.now() - origin) % cycleMs;
    if (inCycle < episodeMs) {
      const until = performance.now() + busyMs;
      while (performance.now() < until);
      stalls++;
      setTimeout(stall, yieldMs).unref();
    } else setTimeout(stall, cycleMs - inCycle).unref();
  };
  process.once('SIGUSR2', () => {
    origin = performance.now();
    stall();
  });
  process.on('exit', () => process.stderr.write(`event-loop stalls: ${stalls}\n`));
}
