import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PacketClock, type PacketClockTimers } from './packet-clock.js';

/** A clock driven by the test: time moves only when told, the timer is only recorded. */
function manual() {
  let now = 0;
  let running = 0;
  const timers: PacketClockTimers = {
    setInterval: () => ++running,
    clearInterval: () => running--,
  };
  return {
    timers,
    now: () => now,
    advance: (ms: number) => (now += ms),
    get running() {
      return running;
    },
  };
}

test('frames are due every 20 ms against the clock; a late tick catches up at once', () => {
  const t = manual();
  const clock = new PacketClock({ now: t.now, timers: t.timers });
  const sent: [number, number][] = [];
  clock.add((i, due) => sent.push([i, due]));
  assert.deepEqual(sent, [[0, 0]], 'frame 0 at once');
  t.advance(19);
  clock.tick();
  assert.equal(sent.length, 1);
  t.advance(1);
  clock.tick();
  assert.deepEqual(sent.at(-1), [1, 20]);
  t.advance(95); // 115 ms: frames 2..5 are due, one late tick sends all four
  clock.tick();
  assert.deepEqual(
    sent.map(([i]) => i),
    [0, 1, 2, 3, 4, 5],
  );
  assert.deepEqual(
    sent.map(([, d]) => d),
    [0, 20, 40, 60, 80, 100],
  );
});

test('many senders share one timer, each on its own start; the timer stops with the last', () => {
  const t = manual();
  const clock = new PacketClock({ now: t.now, timers: t.timers });
  const counts = [0, 0, 0];
  const removes = counts.map((_, k) => {
    t.advance(7); // staggered starts
    return clock.add(() => counts[k]!++);
  });
  assert.equal(t.running, 1, 'one interval for all');
  for (let ms = 0; ms < 1000; ms += 5) {
    t.advance(5);
    clock.tick();
  }
  // 1 s after each start (+ up to 14 ms more): 50 frames + frame 0, give or take the stagger.
  for (const c of counts) assert.ok(c === 51 || c === 52, `count ${c}`);
  removes[0]!();
  removes[0]!(); // idempotent
  assert.equal(clock.size, 2);
  removes[1]!();
  removes[2]!();
  assert.equal(t.running, 0, 'timer stopped with the last sender');
});

test('clockSpeed scales the pace; a throwing sender neither stops the others nor itself', () => {
  const t = manual();
  const errors: unknown[] = [];
  const clock = new PacketClock({ now: t.now, timers: t.timers, onError: (e) => errors.push(e) });
  let fast = 0;
  let good = 0;
  clock.add(() => fast++, { clockSpeed: 2 });
  clock.add(() => {
    throw new Error('boom');
  });
  clock.add(() => good++);
  t.advance(200);
  clock.tick();
  assert.equal(fast, 21, '2x: frames 0..20 in 200 ms');
  assert.equal(good, 11);
  assert.equal(clock.errors, 11);
  assert.equal(errors.length, 11);
});

test('a sender removed from its own callback sends nothing more, even when frames are due', () => {
  const t = manual();
  const clock = new PacketClock({ now: t.now, timers: t.timers });
  let n = 0;
  const remove = clock.add(() => {
    if (++n === 3) remove();
  });
  t.advance(200);
  clock.tick();
  assert.equal(n, 3);
  clock.close();
  assert.equal(t.running, 0);
});
