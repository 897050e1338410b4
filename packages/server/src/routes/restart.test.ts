import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PREFIX, startHarness, type Harness } from '../http/test-harness.js';

describe('restart on the same DATA_DIR', () => {
  let h: Harness;
  after(() => h.destroy());

  it('keeps apps, meetings, participants, presets, webhooks, secrets and the signing key', async () => {
    h = await startHarness();
    const firstApp = h.appId;
    const app2 = (await h.req('POST', `${PREFIX}/apps`, { name: 'kept' })).body.data.app;
    const meeting = (
      await h.req('POST', `${h.appBase}/meetings`, { title: 'kept meeting', persist_chat: true })
    ).body.data;
    const preset = (
      await h.req('POST', `${h.appBase}/presets`, {
        name: 'kept_preset',
        config: { a: 1 },
        ui: {},
        permissions: {},
      })
    ).body.data;
    const participant = (
      await h.req('POST', `${h.appBase}/meetings/${meeting.id}/participants`, {
        custom_participant_id: 'kept',
        preset_name: 'kept_preset',
        name: 'Kept',
      })
    ).body.data;
    const webhook = (
      await h.req('POST', `${h.appBase}/webhooks`, {
        name: 'kept',
        url: 'https://example.com/kept',
        events: ['meeting.ended'],
      })
    ).body.data;
    const key = (await h.req('GET', '/.well-known/webhooks.json')).body.data.publicKey;
    const snapshot = await h.snapshot();

    h = await h.restart();
    assert.equal(h.appId, firstApp, 'no second default app is made');
    assert.equal(await h.snapshot(), snapshot, 'every stored row is the same');
    const apps = await h.req('GET', `${PREFIX}/apps`);
    assert.deepEqual(apps.body.data.map((a: { id: string }) => a.id).sort(), [firstApp, app2.id].sort());
    assert.deepEqual((await h.req('GET', `${h.appBase}/meetings/${meeting.id}`)).body.data, meeting);
    assert.deepEqual((await h.req('GET', `${h.appBase}/presets/${preset.id}`)).body.data, preset);
    const { token, ...withoutToken } = participant;
    assert.deepEqual(
      (await h.req('GET', `${h.appBase}/meetings/${meeting.id}/participants/${participant.id}`)).body.data,
      withoutToken,
    );
    assert.deepEqual((await h.req('GET', `${h.appBase}/webhooks/${webhook.id}`)).body.data, webhook);
    assert.equal(
      (await h.req('GET', '/.well-known/webhooks.json')).body.data.publicKey,
      key,
      'same signing key',
    );
    assert.equal(
      (await h.server.deps.tokens.verify(token as string)).pid,
      participant.id,
      'tokens from before still verify',
    );
    // The store keeps working after the restart.
    const again = await h.req('POST', `${h.appBase}/meetings/${meeting.id}/participants`, {
      custom_participant_id: 'kept',
      preset_name: 'kept_preset',
    });
    assert.equal(again.status, 409, 'the unique index survived too');
  });
});
