import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, backoffBaseDelay } from './backoff.js';

test('base delay grows exponentially up to the cap', () => {
  const opts = { initialMs: 100, factor: 2, maxMs: 1000 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((a) => backoffBaseDelay(a, opts)),
    [100, 200, 400, 800, 1000, 1000],
  );
});

test('jitter stays within the configured fraction', () => {
  const low = new Backoff({ initialMs: 1000, jitter: 0.2, random: () => 0 });
  const high = new Backoff({ initialMs: 1000, jitter: 0.2, random: () => 0.999999 });
  assert.equal(low.next(), 800);
  assert.equal(high.next(), 1200);
});

test('gives up after maxAttempts and starts over after reset', () => {
  const b = new Backoff({ initialMs: 10, maxAttempts: 2, jitter: 0 });
  assert.equal(b.next(), 10);
  assert.equal(b.next(), 20);
  assert.equal(b.next(), undefined);
  assert.equal(b.attempt, 2);
  b.reset();
  assert.equal(b.next(), 10);
});
