import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isRtkError, silentLogger } from '@trackroom/protocol';
import { DiskGuard, RESERVE_FILE, isStorageFull, type DiskLevel } from './disk-space.js';

const MB = 1024 * 1024;

/** A guard over a real directory whose "free space" the test sets. */
function guard(freeMb: { v: number }, reserveMb = 1) {
  const dir = mkdtempSync(join(tmpdir(), 'disk-guard-'));
  const levels: DiskLevel[] = [];
  const g = new DiskGuard({
    dir,
    minFreeBytes: 10 * MB,
    reserveBytes: reserveMb * MB,
    logger: silentLogger,
    intervalMs: 3_600_000,
    freeBytes: () => Promise.resolve(freeMb.v * MB),
  });
  g.on('levelChanged', (e) => levels.push(e.level));
  return { g, dir, levels };
}

void describe('DiskGuard', () => {
  void it('refuses recordings below the floor with 507 and allows them again when space returns', async () => {
    const free = { v: 100 };
    const { g, levels } = guard(free);
    await g.start();
    await g.assertRoomForRecording();
    free.v = 15;
    await g.assertRoomForRecording(); // low: a warning, still allowed
    free.v = 5;
    await assert.rejects(g.assertRoomForRecording(), (e: unknown) => {
      assert.ok(isRtkError(e));
      assert.equal(e.code, 'INSUFFICIENT_STORAGE');
      assert.equal(e.status, 507);
      assert.match(e.message, /5\.0 MB free in DATA_DIR, a recording needs at least 10\.0 MB/);
      return true;
    });
    free.v = 50;
    await g.assertRoomForRecording();
    assert.deepEqual(levels, ['low', 'below_floor', 'ok']);
    await g.close();
  });

  void it('holds a real reserve file, gives it back on a full disk and takes it again when there is room', async () => {
    const free = { v: 100 };
    const { g, dir } = guard(free, 2);
    await g.start();
    const path = join(dir, RESERVE_FILE);
    assert.equal(statSync(path).size, 2 * MB);
    assert.ok(statSync(path).blocks * 512 >= 2 * MB, 'written, not sparse');
    assert.equal(g.stats().reserve_bytes_held, 2 * MB);

    await g.releaseReserve();
    assert.equal(existsSync(path), false);
    // 11 MB free of which 2 belong to the missing reserve: 9 MB for recordings, below the floor.
    free.v = 11;
    await g.check();
    assert.equal(g.stats().free_bytes, 9 * MB);
    assert.equal(g.level, 'below_floor');
    free.v = 13;
    await g.check();
    assert.equal(existsSync(path), true, 'taken again once floor + reserve fit');
    assert.equal(g.stats().reserve_bytes_held, 2 * MB);
    await g.close();
  });

  void it('keeps the reserve a previous run left', async () => {
    const free = { v: 100 };
    const { g, dir } = guard(free);
    await g.start();
    await g.close();
    const again = new DiskGuard({
      dir,
      minFreeBytes: 10 * MB,
      reserveBytes: 1 * MB,
      logger: silentLogger,
      freeBytes: () => Promise.resolve(10.5 * MB), // too little to write a new one
    });
    await again.start();
    assert.equal(again.stats().reserve_bytes_held, 1 * MB);
    assert.equal(again.level, 'low');
    await again.close();
  });

  void it('tells a full disk from other errors, through causes', () => {
    assert.equal(isStorageFull(Object.assign(new Error('x'), { code: 'ENOSPC' })), true);
    assert.equal(isStorageFull(Object.assign(new Error('x'), { code: 'SQLITE_FULL' })), true);
    assert.equal(
      isStorageFull(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'EDQUOT' }) })),
      true,
    );
    assert.equal(isStorageFull(Object.assign(new Error('x'), { code: 'EIO' })), false);
    assert.equal(isStorageFull(undefined), false);
  });
});
