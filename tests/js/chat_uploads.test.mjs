// Outgoing attachments (static/js/chat/uploads.js): kept on the device until uploaded, then
// sent as a `file` message with the cid they got when the user sent them; cancel; failure and
// retry; a restart in between.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ChatClient } from '../../static/js/chat/client.js';
import * as crypto from '../../static/js/crypto.js';
import { STATUS } from '../../static/js/outbox.js';
import { PHASE } from '../../static/js/transfer.js';
import { setup } from './helpers/chat_setup.mjs';

const offline = () => Object.assign(new Error('The server cannot be reached.'), { code: 'offline' });

/** What a reconnect does, minus the friend-list refresh these fakes have no server for. */
function reconnectable(client) {
  client.refresh = async () => {};
  client.transport.close = () => {};
  return client;
}

/** A blob server for alice's api: `mode` decides each upload ('ok', 'offline', 'hang', or an error code). */
function blobServer(api) {
  const server = { mode: 'ok', stored: new Map(), calls: 0, progress: [] };
  api.uploadBlob = (to, ct, { onProgress, signal } = {}) => new Promise((resolve, reject) => {
    server.calls += 1;
    signal?.addEventListener('abort', () => reject(Object.assign(new Error('Cancelled.'), { code: 'aborted' })));
    if (server.mode === 'offline') return reject(offline());
    if (server.mode === 'hang') return undefined; // on the wire until cancelled
    if (server.mode !== 'ok') return reject(Object.assign(new Error(`refused: ${server.mode}`), { code: server.mode }));
    onProgress?.(Math.floor(ct.size / 2), ct.size);
    onProgress?.(ct.size, ct.size);
    const blob = `blob${server.stored.size + 1}`;
    server.stored.set(blob, ct);
    return resolve({ blob });
  });
  return server;
}

function attachment(text = 'holiday notes', name = 'notes.txt') {
  return new File([new TextEncoder().encode(text)], name, { type: 'text/plain' });
}

/** Decrypt what Bob would download for a `file` message Alice sent. */
async function bobOpens(bob, alice, server, env) {
  const wire = { ...env, id: 900, from: alice.id, ts: 1 };
  await bob.client.ingest([wire], 'live');
  const message = bob.client.conv(alice.id).list.get(`${alice.id}:${env.cid}`);
  assert.equal(message.kind, 'file');
  const ct = new Uint8Array(await server.stored.get(message.file.blob).arrayBuffer());
  const plain = await crypto.decryptFile(ct, message.file.key, message.file.n, message.file.sha256);
  return { message, text: new TextDecoder().decode(plain) };
}

const sends = (user) => user.transport.sent.filter(([name]) => name === 'send').map(([, env]) => env);

test('an attachment uploads with progress, then its file message is sent once with the same cid', async () => {
  const { users: { alice, bob } } = await setup();
  const server = blobServer(reconnectable(alice.client).api);
  const heard = [];
  alice.client.addEventListener('transfer', ({ detail }) => heard.push(detail.transfer.phase === PHASE.UPLOADING ? detail.transfer.loaded : detail.transfer.phase));
  const cid = await alice.client.sendFile(bob.id, attachment());
  await alice.client.parts.uploads.pumping;
  await alice.client.outbox.flush();
  const sent = sends(alice);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].cid, cid);
  assert.ok(heard.includes(PHASE.QUEUED) && heard.some((h) => typeof h === 'number' && h > 0), `progress heard: ${heard}`);
  assert.deepEqual(await alice.store.uploadList(), [], 'nothing kept once the message is queued');
  const own = alice.client.conv(bob.id).list.get(`${alice.id}:${cid}`);
  assert.equal(own.status, STATUS.SENT);
  assert.equal(own.file.transfer, undefined);
  assert.equal(own.file.blob, 'blob1');
  const { text } = await bobOpens(bob, alice, server, sent[0]);
  assert.equal(text, 'holiday notes');
});

test('offline, the attachment is kept encrypted and goes out after the reconnect, once', async () => {
  const { users: { alice, bob } } = await setup();
  const server = blobServer(reconnectable(alice.client).api);
  server.mode = 'offline';
  alice.client.parts.uploads.setTimer = () => 0; // no automatic retry: the reconnect does it
  const cid = await alice.client.sendFile(bob.id, attachment('written on a train'));
  await alice.client.parts.uploads.pumping;
  const kept = await alice.store.uploadList();
  assert.equal(kept.length, 1);
  assert.equal(kept[0].cid, cid);
  const storedBytes = new Uint8Array(await kept[0].ct.arrayBuffer());
  assert.ok(!new TextDecoder().decode(storedBytes).includes('written on a train'), 'the kept blob is ciphertext');
  assert.ok(!JSON.stringify(kept[0].draft).includes('written on a train'));
  assert.equal(alice.client.transferOf(cid).phase, PHASE.WAITING);
  assert.equal(sends(alice).length, 0);

  server.mode = 'ok';
  await alice.client.onConnected();
  await alice.client.parts.uploads.pumping;
  await alice.client.outbox.flush();
  const sent = sends(alice);
  assert.deepEqual(sent.map((e) => e.cid), [cid]);
  assert.equal(server.stored.size, 1, 'uploaded once');
  await alice.client.onConnected(); // another reconnect sends nothing again
  await alice.client.parts.uploads.pumping;
  assert.equal(sends(alice).length, 1);
  assert.equal((await bobOpens(bob, alice, server, sent[0])).text, 'written on a train');
});

test('a kept attachment survives a restart and is sent from the new page with its cid', async () => {
  const { users: { alice, bob } } = await setup();
  const server = blobServer(reconnectable(alice.client).api);
  server.mode = 'offline';
  alice.client.parts.uploads.setTimer = () => 0;
  const cid = await alice.client.sendFile(bob.id, attachment('before the reload', 'r.txt'));
  await alice.client.parts.uploads.pumping;
  alice.client.end();

  // The page reloads: a new client over the same store (IndexedDB survives).
  const api = { ...alice.client.api, uploadBlob: alice.client.api.uploadBlob };
  const again = reconnectable(new ChatClient({ me: alice.client.me, api, store: alice.store, transport: alice.transport, keyring: alice.keyring }));
  again.applyFriends({ friends: [{ id: bob.id, username: 'bob', since: 1, online: true, key_id: bob.ident.id }] });
  await again.parts.sending.restore();
  await again.parts.uploads.restore();
  const shown = again.conv(bob.id).list.get(`${alice.id}:${cid}`);
  assert.equal(shown.kind, 'file');
  assert.equal(shown.file.name, 'r.txt');
  assert.equal(shown.status, STATUS.SENDING);
  assert.equal(shown.file.transfer.phase, PHASE.WAITING);
  assert.equal(await again.unsentCount(), 1);

  server.mode = 'ok';
  await again.onConnected();
  await again.parts.uploads.pumping;
  await again.outbox.flush();
  const sent = sends(alice);
  assert.deepEqual(sent.map((e) => e.cid), [cid]);
  assert.equal((await bobOpens(bob, alice, server, sent[0])).text, 'before the reload');
  assert.equal(await again.unsentCount(), 0);
});

test('cancel stops an upload on the wire: nothing is kept and nothing is sent', async () => {
  const { users: { alice, bob } } = await setup();
  const server = blobServer(reconnectable(alice.client).api);
  server.mode = 'hang';
  const cid = await alice.client.sendFile(bob.id, attachment());
  while (alice.client.transferOf(cid)?.phase !== PHASE.UPLOADING) await new Promise((r) => setTimeout(r, 1));
  await alice.client.cancelUpload(bob.id, cid);
  await alice.client.parts.uploads.pumping;
  await alice.client.outbox.flush();
  assert.equal(sends(alice).length, 0);
  assert.deepEqual(await alice.store.uploadList(), []);
  assert.equal(alice.client.conv(bob.id).list.get(`${alice.id}:${cid}`), null);
  server.mode = 'ok';
  await alice.client.onConnected();
  await alice.client.parts.uploads.pumping;
  assert.equal(sends(alice).length, 0, 'a cancelled attachment never comes back');
});

test('a refused upload is failed and kept; retry sends it, delete forgets it', async () => {
  const { users: { alice, bob } } = await setup();
  const server = blobServer(reconnectable(alice.client).api);
  server.mode = 'too_large';
  const errors = [];
  alice.client.addEventListener('error', ({ detail }) => errors.push(detail.message));
  const cid = await alice.client.sendFile(bob.id, attachment());
  await alice.client.parts.uploads.pumping;
  const own = alice.client.conv(bob.id).list.get(`${alice.id}:${cid}`);
  assert.equal(own.status, STATUS.FAILED);
  assert.equal(own.file.transfer.phase, PHASE.FAILED);
  assert.match(errors.join(' '), /notes\.txt was not sent: refused: too_large/);
  assert.equal((await alice.store.uploadList())[0].state, 'failed');
  await alice.client.onConnected();
  await alice.client.parts.uploads.pumping;
  assert.equal(server.calls, 1, 'a failed upload waits for the user');

  server.mode = 'ok';
  await alice.client.retry(bob.id, cid);
  await alice.client.outbox.flush();
  assert.deepEqual(sends(alice).map((e) => e.cid), [cid]);

  server.mode = 'forbidden';
  const other = await alice.client.sendFile(bob.id, attachment('second'));
  await alice.client.parts.uploads.pumping;
  await alice.client.discard(bob.id, other);
  assert.deepEqual(await alice.store.uploadList(), []);
  assert.equal(alice.client.conv(bob.id).list.get(`${alice.id}:${other}`), null);
});

test('a server that asks to retry is tried again by itself', async () => {
  const { users: { alice, bob } } = await setup();
  const server = blobServer(reconnectable(alice.client).api);
  server.mode = 'retry';
  const timers = [];
  alice.client.parts.uploads.setTimer = (fn, ms) => timers.push([fn, ms]);
  const cid = await alice.client.sendFile(bob.id, attachment());
  await alice.client.parts.uploads.pumping;
  assert.equal(timers.length, 1);
  assert.equal(alice.client.transferOf(cid).phase, PHASE.WAITING);
  server.mode = 'ok';
  timers[0][0]();
  await alice.client.parts.uploads.pumping;
  await alice.client.outbox.flush();
  assert.deepEqual(sends(alice).map((e) => e.cid), [cid]);
});

test('behind another upload an attachment is in line; offline, every kept one waits for a connection', async () => {
  const { users: { alice, bob } } = await setup();
  const server = blobServer(reconnectable(alice.client).api);
  server.mode = 'hang';
  alice.client.parts.uploads.setTimer = () => 0;
  const first = await alice.client.sendFile(bob.id, attachment('one'));
  while (alice.client.transferOf(first)?.phase !== PHASE.UPLOADING) await new Promise((r) => setTimeout(r, 1));
  const second = await alice.client.sendFile(bob.id, attachment('two'));
  assert.equal(alice.client.transferOf(second).phase, PHASE.QUEUED);
  server.mode = 'offline';
  await alice.client.cancelUpload(bob.id, first); // the hanging one goes; the next finds no server
  await alice.client.parts.uploads.pump();
  assert.equal(alice.client.transferOf(second).phase, PHASE.WAITING);
  const third = await alice.client.sendFile(bob.id, attachment('three'));
  assert.equal(alice.client.transferOf(third).phase, PHASE.WAITING, 'known offline: no false hope');
  server.mode = 'ok';
  await alice.client.onConnected();
  await alice.client.parts.uploads.pumping;
  await alice.client.outbox.flush();
  assert.deepEqual(sends(alice).map((e) => e.cid), [second, third]);
});

test('an attachment the store could not keep fails visibly, and retry encrypts it again', async () => {
  const { users: { alice, bob } } = await setup();
  blobServer(reconnectable(alice.client).api);
  const put = alice.store.uploadPut.bind(alice.store);
  alice.store.uploadPut = async () => { throw Object.assign(new Error('The disk is full.'), { code: 'QuotaExceededError' }); };
  const errors = [];
  alice.client.addEventListener('error', ({ detail }) => errors.push(detail.message));
  const cid = await alice.client.sendFile(bob.id, attachment('full disk'));
  assert.equal(alice.client.conv(bob.id).list.get(`${alice.id}:${cid}`).status, STATUS.FAILED);
  assert.deepEqual(errors, ['notes.txt was not sent: The disk is full.']);
  alice.store.uploadPut = put;
  await alice.client.retry(bob.id, cid);
  await alice.client.parts.uploads.pumping;
  await alice.client.outbox.flush();
  assert.deepEqual(sends(alice).map((e) => e.cid), [cid]);
});
