import { BackupError, backupDataDir } from './services/backup.js';

/**
 * `npm run backup -- <dest> [--recordings]`: an online backup of DATA_DIR (default ./data) into a
 * new directory, safe while the server runs. Exit 0 with a summary; 2 on a usage or backup error.
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const recordings = args.includes('--recordings');
  const rest = args.filter((a) => a !== '--recordings');
  if (rest.length !== 1 || rest[0]!.startsWith('-')) {
    process.stderr.write('usage: npm run backup -- <new backup directory> [--recordings]\n');
    process.exit(2);
  }
  const dataDir = process.env.DATA_DIR || './data';
  try {
    const r = await backupDataDir(dataDir, rest[0]!, { recordings });
    process.stdout.write(
      `backed up ${dataDir} to ${r.dest}: trackroom.db (${r.databaseBytes} bytes, schema ${r.schemaVersion}, ` +
        `integrity ok)${r.copied.length ? ', ' + r.copied.join(', ') : ''}\n`,
    );
  } catch (e) {
    if (e instanceof BackupError) {
      process.stderr.write(`backup failed: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`backup failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
