// Nothing secret outlives the session: what is forgotten, what is never sent, what is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { readPlain } from '../../static/js/chat/plaintext.js';
import { safeFileName } from '../../static/js/encoding.js';
import { Outbox, STALE_KEY, STATUS } from '../../static/js/outbox.js';
import { checkIterations, kdfFloor, login, logout, MIN_KDF_ITERATIONS, register, SessionError } from '../../static/js/session.js';
import { MemoryBackend, Store } from '../../static/js/store.js';

const env = (id, from, to, sk = 'a'.repeat(12)) => ({ v: 1, id, from, to, cid: `c${id}`, sk, rk: 'b'.repeat(12), n: 'n', ct: 'c', ts: id });

async function filledStore() {
  const backend = new MemoryBackend();
  const alice = new Store(backend, 1);
  const bob = new Store(backend, 2);
  for (const store of [alice, bob]) {
    await store.saveIdentities([{ id: `k${store.owner}`, privateKey: {}, publicRaw: new Uint8Array(32), current: true }]);
    await store.cacheEnvelopes([env(10 + store.owner, 3, store.owner)]);
    await store.savePeerKeys(3, [{ id: 'p', public_key: 'x', current: true }]);
    await store.setMeta('snapshot', { listing: { friends: [{ id: 3, username: 'carol' }] } });
    await store.setMeta('vault', { v: 1, n: 'n', ct: 'ct' });
    await store.setMeta('cursor', 12);
    await store.setPeer(3, { seen: 'p', acked: 'p' });
    await store.outboxPut({ cid: `o${store.owner}`, envelope: env(0, store.owner, 3), seq: 1, status: 'sending' });
  }
  return { alice, bob };
}

test('forgetSecrets drops keys, ciphertext, snapshots and peer keys of every account', async () => {
  const { alice, bob } = await filledStore();
  await alice.forgetSecrets();
  for (const store of [alice, bob]) {
    assert.deepEqual(await store.identities(), []);
    assert.deepEqual(await store.cachedEnvelopes(3), []);
    assert.deepEqual(await store.peerKeys(3), []);
    assert.equal(await store.getMeta('snapshot'), null);
    assert.equal(await store.getMeta('vault'), null);
    // Kept: the outbox (asked about at logout), the cursor and accepted-key records.
    assert.equal(await store.cursor(), 12);
    assert.equal((await store.outboxList()).length, 1);
    assert.deepEqual(await store.peer(3), { seen: 'p', acked: 'p', owner: store.owner, user: 3 });
  }
});

test('logout forgets the device secrets even when the server answers 503 or 429', async () => {
  for (const code of ['retry', 'rate_limited', 'offline']) {
    const { alice } = await filledStore();
    let pagesForgotten = false;
    const api = { logout: async () => { throw Object.assign(new Error('no'), { code }); } };
    const confirmed = await logout({ api, store: alice, forgetPages: async () => { pagesForgotten = true; } });
    assert.equal(confirmed, false);
    assert.deepEqual(await alice.identities(), []);
    assert.ok(pagesForgotten);
  }
  const { alice } = await filledStore();
  assert.equal(await logout({ api: { logout: async () => null }, store: alice }), true);
});

test('an outbox item sealed under a key this session does not hold is failed, never sent', async () => {
  const store = await Store.open(1, { memory: true });
  const sent = [];
  const statuses = [];
  const outbox = new Outbox({
    store,
    request: async (event, data) => { sent.push(data.cid); return { ok: true, id: 1, ts: 1 }; },
    onStatus: (cid, status, item) => statuses.push([cid, status, item.error?.code ?? null]),
    sealedWithHeldKey: (envelope) => envelope.sk === 'new-key-id0',
    retryDelay: 0,
  });
  await outbox.add({ ...env(0, 1, 2, 'old-key-id00'), cid: 'old' });
  await outbox.add({ ...env(0, 1, 2, 'new-key-id0'), cid: 'new' });
  await outbox.flush();
  assert.deepEqual(sent, ['new']);
  assert.deepEqual(statuses.filter(([, s]) => s === STATUS.FAILED), [['old', STATUS.FAILED, STALE_KEY]]);
  await outbox.retry('old');
  assert.deepEqual(sent, ['new']);
  assert.equal((await store.outboxGet('old')).status, STATUS.FAILED);
});

test('a stopped outbox sends nothing more', async () => {
  const store = await Store.open(1, { memory: true });
  const sent = [];
  const outbox = new Outbox({ store, request: async (e, d) => { sent.push(d.cid); return { ok: true, id: 1 }; }, retryDelay: 0 });
  outbox.stop();
  await outbox.add({ ...env(0, 1, 2), cid: 'x' });
  await outbox.flush();
  assert.deepEqual(sent, []);
  assert.equal((await store.outboxList()).length, 1);
});

test('the KDF floor is 100,000 and only a test harness global lowers it', () => {
  assert.equal(MIN_KDF_ITERATIONS, 100000);
  assert.equal(kdfFloor({}), 100000);
  assert.equal(kdfFloor({ __sendappTestKdfFloor: 1000 }), 1000);
  assert.equal(kdfFloor({ __sendappTestKdfFloor: '1' }), 100000);
  assert.throws(() => checkIterations(1, 100000), SessionError);
  assert.throws(() => checkIterations(99999, 100000), /at least 100000/);
  assert.equal(checkIterations(600000, 100000), 600000);
});

test('login and register refuse a cheap KDF before deriving or sending anything', async () => {
  const calls = [];
  const api = {
    prelogin: async () => ({ kdf: 'pbkdf2-sha256', iterations: 1000 }),
    login: async () => { calls.push('login'); },
    register: async () => { calls.push('register'); },
  };
  const crypto = new Proxy({}, { get: (_t, name) => (name === 'normaliseUsername' ? (u) => u : name === 'normalisePassword' ? (p) => p : () => { calls.push(String(name)); }) });
  const deps = { api, openStore: async () => null, crypto };
  await assert.rejects(login(deps, { username: 'alice', password: 'a long password' }), (err) => err.code === 'weak_kdf');
  await assert.rejects(register(deps, { username: 'alice', password: 'a long password', confirm: 'a long password' }), (err) => err.code === 'weak_kdf');
  assert.deepEqual(calls, []);
});

test('file names lose bidi controls wherever they are shown or saved', () => {
  assert.equal(safeFileName('invoice\u202Etxt.exe'), 'invoicetxt.exe');
  assert.equal(safeFileName('a\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u200E\u200F\u061Cb'), 'ab');
  assert.equal(safeFileName('\u202E'), 'attachment');
  assert.equal(safeFileName(42), 'attachment');
  assert.equal(safeFileName('x'.repeat(300)).length, 255);
  assert.equal(safeFileName('שלום.txt'), 'שלום.txt'); // right-to-left letters are not controls
  const message = readPlain({ t: 'file', name: 'photo\u202Egnp.exe', mime: 'image/png', size: 1, blob: 'b', key: 'k', n: 'n', sha256: 's' });
  assert.equal(message.file.name, 'photognp.exe');
});
