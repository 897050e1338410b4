#!/usr/bin/env node
// The official `cloudflare` npm client against trackroom: only the base URL changes.
// Creates a meeting and a participant, brings a live participant in (examples/join-tone.mjs, or a
// browser on the printed join link), records that participant's audio for a few seconds as a track
// recording, stops it and prints the signed download links.
//
//   node examples/official-client.mjs [--seconds 3] [--browser]
//
// The admin token comes from RTK_API_TOKEN, else from data/api-token (DATA_DIR/api-token), the
// server from TRACKROOM_URL (default http://127.0.0.1:8787), the account from RTK_ACCOUNT_ID
// (default local) and the app from RTK_APP_ID, else the default app (the oldest in GET .../apps).
// --browser waits for you to open the join link instead of starting join-tone.mjs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import Cloudflare from 'cloudflare';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '3' }, browser: { type: 'boolean', default: false } },
});
const server = process.env.TRACKROOM_URL ?? 'http://127.0.0.1:8787';
const apiToken =
  process.env.RTK_API_TOKEN || readFileSync(join(process.env.DATA_DIR ?? 'data', 'api-token'), 'utf8').trim();
const account_id = process.env.RTK_ACCOUNT_ID ?? 'local';

const cf = new Cloudflare({ apiToken, baseURL: `${server}/client/v4` });

const app_id =
  process.env.RTK_APP_ID ??
  (await cf.realtimeKit.apps.get({ account_id, sort_order: 'ASC', per_page: 1 })).data[0].id;
console.log(`app            ${app_id}`);

const meeting = (await cf.realtimeKit.meetings.create(app_id, { account_id, title: 'standup' })).data;
console.log(`meeting        ${meeting.id} "${meeting.title}"`);

const alice = (
  await cf.realtimeKit.meetings.addParticipant(meeting.id, {
    account_id,
    app_id,
    custom_participant_id: 'alice',
    preset_name: 'group_call_host',
    name: 'Alice',
  })
).data;
console.log(`participant    ${alice.id} (custom id ${alice.custom_participant_id})`);
console.log(`join link      ${server}/join?authToken=${alice.token}`);

// A track recording needs someone in the meeting.
let alicePid;
if (values.browser) {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  await rl.question('open the join link, allow the microphone, then press Enter ');
  rl.close();
} else {
  const joined = spawnSync(
    process.execPath,
    [new URL('join-tone.mjs', import.meta.url).pathname, alice.token, '--seconds', '60', '--server', server],
    { encoding: 'utf8' },
  );
  if (joined.status !== 0) throw new Error(`join-tone.mjs failed: ${joined.stderr}`);
  console.log(`live           ${joined.stdout.trim()}`);
  alicePid = Number(/\(pid (\d+)\)/.exec(joined.stdout)?.[1]);
}

const started = await cf.realtimeKit.recordings.startTrackRecording(app_id, {
  account_id,
  meeting_id: meeting.id,
  user_ids: ['alice'],
});
const recordingId = started.data.recording.id; // the id is in data.recording.id
console.log(`recording      ${recordingId} ${started.data.recording.status}`);

await new Promise((resolve) => setTimeout(resolve, Number(values.seconds) * 1000));
const stopped = await cf.realtimeKit.recordings.pauseResumeStopRecording(recordingId, {
  account_id,
  app_id,
  action: 'stop',
});
console.log(`stopped        ${stopped.data.status} after ${values.seconds} s`);

const done = (await cf.realtimeKit.recordings.getOneRecording(recordingId, { account_id, app_id })).data;
for (const layer of done.download_url ?? []) {
  for (const [file, { download_url }] of Object.entries(layer.download_urls)) {
    console.log(`file           ${file}\n               ${download_url}`);
  }
}

if (alicePid) {
  process.kill(alicePid, 'SIGTERM'); // join-tone.mjs leaves the meeting on SIGTERM
  console.log(`left           alice's tone publisher (pid ${alicePid}) stopped`);
}
