import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteRepository } from '../store/sqlite-repository.js';
import { BackupError, backupDataDir } from './backup.js';

const root = new URL('../../../../', import.meta.url).pathname;
const dirs: string[] = [];
const temp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const app = (i: number) => ({
  id: `app-${i}`,
  account_id: 'local',
  name: `app ${i}`,
  created_at: new Date().toISOString(),
  updated_at: new Date().toISOString(),
});

describe('backupDataDir (online backup of DATA_DIR)', () => {
  it('copies a consistent database while it is open and written to, with what is still in the WAL', async () => {
    const data = temp('bk-data-');
    const repo = new SqliteRepository(join(data, 'trackroom.db'));
    await repo.setSetting('webhook_private_key', 'PEM');
    for (let i = 0; i < 50; i++) await repo.apps.insert(app(i));
    assert.ok(
      existsSync(join(data, 'trackroom.db-wal')),
      'rows still in the WAL (a file copy would miss them)',
    );
    writeFileSync(join(data, 'api-token'), 'tok\n');
    mkdirSync(join(data, 'recordings', 'r1'), { recursive: true });
    writeFileSync(join(data, 'recordings', 'r1', 'a.webm'), 'x');
    // Writes go on during the backup.
    let writing = true;
    let n = 50;
    const writer = (async () => {
      while (writing) {
        await repo.apps.insert(app(n++));
        // better-sqlite3 is synchronous: yield to the event loop so the backup's steps can run.
        await new Promise((r) => setImmediate(r));
      }
    })();
    const dest = join(temp('bk-out-'), 'snap');
    const r = await backupDataDir(data, dest, { recordings: true });
    writing = false;
    await writer;
    await repo.close();
    assert.ok(r.databaseBytes > 0);
    assert.equal(r.schemaVersion > 0, true);
    assert.deepEqual(r.copied, ['api-token', 'recordings/']);
    assert.equal(readFileSync(join(dest, 'api-token'), 'utf8'), 'tok\n');
    assert.ok(existsSync(join(dest, 'recordings', 'r1', 'a.webm')));
    assert.ok(!existsSync(join(dest, 'trackroom.db-wal')), 'the copy is one file');
    // The copy opens as a server's database: every row written before the backup began is there.
    const copy = new SqliteRepository(join(dest, 'trackroom.db'));
    const { rows } = await copy.apps.list();
    for (let i = 0; i < 50; i++)
      assert.ok(
        rows.some((a) => a.id === `app-${i}`),
        `app-${i}`,
      );
    assert.equal(await copy.getSetting('webhook_private_key'), 'PEM');
    await copy.close();
  });

  it('refuses a non-empty destination and a DATA_DIR without a database', async () => {
    const data = temp('bk-data-');
    const repo = new SqliteRepository(join(data, 'trackroom.db'));
    await repo.close();
    const full = temp('bk-full-');
    writeFileSync(join(full, 'x'), '');
    await assert.rejects(
      backupDataDir(data, full),
      (e) => e instanceof BackupError && /not empty/.test(e.message),
    );
    await assert.rejects(backupDataDir(temp('bk-none-'), join(full, 'n')), /no database/);
  });

  it('npm run backup -- <dest>: the command prints a summary; usage errors exit 2', () => {
    const data = temp('bk-data-');
    const repo = new SqliteRepository(join(data, 'trackroom.db'));
    void repo.close();
    const dest = join(temp('bk-out-'), 'snap');
    const cli = (args: string[]) =>
      spawnSync(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', 'packages/server/src/backup-main.ts', ...args],
        { cwd: root, env: { ...process.env, DATA_DIR: data }, encoding: 'utf8' },
      );
    const ok = cli([dest]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /trackroom\.db \(\d+ bytes, schema \d+, integrity ok\)/);
    assert.ok(existsSync(join(dest, 'trackroom.db')));
    const usage = cli([]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /usage: npm run backup/);
    const again = cli([dest]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /not empty/);
  });
});
