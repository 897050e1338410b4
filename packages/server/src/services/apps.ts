import type { Repository } from '../store/repository.js';
import type { AppRow } from '../store/types.js';
import { newId, nowIso } from './clock.js';
import { defaultPresetBodies } from './default-presets.js';

/** Creates an app with its default presets in one transaction. */
export async function createApp(repo: Repository, accountId: string, name: string): Promise<AppRow> {
  return repo.transaction(async () => {
    const now = nowIso();
    const app: AppRow = { id: newId(), account_id: accountId, name, created_at: now, updated_at: now };
    await repo.apps.insert(app);
    for (const p of defaultPresetBodies()) {
      await repo.presets.insert({ id: newId(), app_id: app.id, ...p, created_at: now, updated_at: now });
    }
    return app;
  });
}

export const appOut = (a: AppRow) => ({ id: a.id, name: a.name, created_at: a.created_at });
