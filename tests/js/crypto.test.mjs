// Browser crypto against the shared vectors, round trips and tamper cases (PROTOCOL §1-§6).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import * as c from '../../static/js/crypto.js';
import { b64urlDecode, b64urlEncode, concatBytes, utf8Decode, utf8Encode } from '../../static/js/encoding.js';
import { d, flip, flipB64 } from './helpers/tamper.mjs';

const V = JSON.parse(readFileSync(new URL('../vectors/protocol-vectors.json', import.meta.url), 'utf8'));
const KEYS = Object.fromEntries(V.keys.map((k) => [k.user_id, k]));
const ALICE = KEYS[1];
const BOB = KEYS[2];
const PAIR_RAW = d(V.pair[0].pair_key);

const received = (v) => ({ ...v.envelope, from: v.from, id: 7, ts: 1 });
const exportRaw = async (key) => new Uint8Array(await crypto.subtle.exportKey('raw', key));

describe('vectors', () => {
  for (const v of V.accounts) {
    test(`account secrets ${v.username_input}/${v.iterations}`, async () => {
      assert.equal(c.normaliseUsername(v.username_input), v.username);
      const s = await c.deriveAccountSecrets(v.username_input, v.password, v.iterations, { exportRaw: true });
      assert.equal(b64urlEncode(s.raw.master), v.master);
      assert.equal(b64urlEncode(s.raw.authKey), v.auth_key);
      assert.equal(s.auth, v.auth);
      assert.equal(b64urlEncode(s.raw.vaultKey), v.vault_key);
      assert.equal(s.vaultKey.extractable, false);
      assert.equal(s.vaultKey.algorithm.name, 'AES-GCM');
    });
  }

  test('account secrets without exportRaw expose no raw bytes', async () => {
    const v = V.accounts[0];
    const s = await c.deriveAccountSecrets(v.username, v.password, v.iterations);
    assert.equal(s.raw, undefined);
    assert.equal(s.auth, v.auth);
    assert.equal(s.vaultKey.extractable, false);
    const vault = V.vault[0];
    assert.deepEqual(await c.decryptVault(s.vaultKey, vault.username, vault.vault), JSON.parse(vault.plain));
  });

  test('account secrets NFKC-normalise the password', async () => {
    const v = V.accounts[1];
    const decomposed = 'pa\u0308ssw\u00f6rd-A\u030a\u2126';
    assert.equal(c.normalisePassword(decomposed), v.password);
    assert.equal((await c.deriveAccountSecrets(v.username, decomposed, 1000)).auth, v.auth);
  });

  for (const v of V.keys) {
    test(`identity ${v.username}: import and key id`, async () => {
      const { privateKey, publicRaw } = await c.importIdentity({ d: v.private, x: v.public });
      assert.equal(privateKey.extractable, false);
      assert.equal(b64urlEncode(publicRaw), v.public);
      assert.equal(await c.keyId(d(v.public)), v.key_id);
    });
  }

  for (const [own, peer] of [[ALICE, BOB], [BOB, ALICE]]) {
    test(`pair key from ${own.username}'s side`, async () => {
      const p = V.pair[0];
      const { privateKey } = await c.importIdentity({ d: own.private, x: own.public });
      const key = await c.derivePairKey(privateKey, d(peer.public), p.lo, p.hi, d(p.lo_public), d(p.hi_public), { extractable: true });
      assert.equal(b64urlEncode(await exportRaw(key)), p.pair_key);
      const hidden = await c.derivePairKey(privateKey, d(peer.public), p.lo, p.hi, d(p.lo_public), d(p.hi_public));
      assert.equal(hidden.extractable, false);
    });
  }

  for (const v of V.messages) {
    test(`message ${v.envelope.cid} encrypts to the vector`, async () => {
      const env = v.envelope;
      const plain = JSON.parse(v.plain_json);
      assert.equal(JSON.stringify(plain), v.plain_json);
      assert.deepEqual(c.pad(utf8Encode(v.plain_json)), d(v.padded));
      assert.deepEqual(c.messageAad(v.from, v.to, env.cid, env.sk, env.rk), utf8Encode(v.aad));
      const key = await c.pairKeyFromRaw(d(v.pair_key));
      const out = await c.encryptMessage(key, { from: v.from, to: v.to, cid: env.cid, sk: env.sk, rk: env.rk }, plain, d(env.n));
      assert.deepEqual(out, env);
      assert.deepEqual(Object.keys(out), Object.keys(env));
    });

    test(`message ${v.envelope.cid} vector decrypts`, async () => {
      const key = await c.pairKeyFromRaw(d(v.pair_key));
      assert.deepEqual(await c.decryptMessage(key, received(v)), JSON.parse(v.plain_json));
    });
  }

  for (const v of V.messages_must_fail) {
    test(`must fail: ${v.why}`, async () => {
      const key = await c.pairKeyFromRaw(d(v.pair_key));
      const [, from, to, cid, sk, rk] = v.aad.split('|');
      const envelope = { v: 1, from: Number(from), to: Number(to), cid, sk, rk, n: v.n, ct: v.ct };
      assert.deepEqual(c.messageAad(envelope.from, envelope.to, cid, sk, rk), utf8Encode(v.aad));
      await assert.rejects(c.decryptMessage(key, envelope), c.CryptoError);
    });
  }

  for (const v of V.vault) {
    test(`vault ${v.username} encrypts to the vector`, async () => {
      const plain = JSON.parse(v.plain);
      const entries = [];
      for (const k of plain.keys) {
        entries.push(c.vaultEntry(d(k.d), d(k.x), k.created, await c.keyId(d(k.x))));
      }
      assert.deepEqual(entries, plain.keys);
      assert.equal(JSON.stringify({ v: 1, keys: entries }), v.plain);
      const key = await c.vaultKeyFromRaw(d(v.vault_key));
      assert.deepEqual(await c.encryptVault(key, v.username, entries, d(v.vault.n)), v.vault);
      assert.deepEqual(await c.decryptVault(key, v.username, v.vault), plain);
    });
  }

  for (const v of V.safety) {
    test(`safety number ${v.lo}/${v.hi}`, async () => {
      assert.equal(await c.safetyNumber(v.lo, d(v.lo_public), v.hi, d(v.hi_public)), v.safety);
    });
  }

  for (const v of V.file) {
    test('file encrypts to the vector; sha256 is the plaintext digest', async () => {
      const out = await c.encryptFile(d(v.plain), d(v.key), d(v.n));
      assert.equal(b64urlEncode(out.ct), v.ct);
      assert.equal(out.key, v.key);
      assert.equal(out.n, v.n);
      assert.equal(out.sha256, v.sha256);
      assert.deepEqual(await c.decryptFile(d(v.ct), v.key, v.n, v.sha256), d(v.plain));
    });
  }

  for (const v of V.padding) {
    test(`padding of ${d(v.in).length} bytes`, () => {
      assert.deepEqual(c.pad(d(v.in)), d(v.out));
      assert.deepEqual(c.unpad(d(v.out)), d(v.in));
    });
  }
});

describe('round trips', () => {
  test('generated identities agree on a pair key', async () => {
    const a = await c.generateIdentity();
    const b = await c.generateIdentity();
    assert.equal(a.privateRaw.length, 32);
    assert.equal(a.publicRaw.length, 32);
    const ia = await c.importIdentity(c.vaultEntry(a.privateRaw, a.publicRaw, 1, await c.keyId(a.publicRaw)));
    const ib = await c.importIdentity({ d: b64urlEncode(b.privateRaw), x: b64urlEncode(b.publicRaw) });
    const opts = { extractable: true };
    const k1 = await c.derivePairKey(ia.privateKey, b.publicRaw, 3, 10, a.publicRaw, b.publicRaw, opts);
    const k2 = await c.derivePairKey(ib.privateKey, a.publicRaw, 3, 10, a.publicRaw, b.publicRaw, opts);
    assert.deepEqual(await exportRaw(k1), await exportRaw(k2));
  });

  for (const size of [0, 1, 30, 31, 32, 33, 1000]) {
    test(`message of ${size} characters`, async () => {
      const key = await c.pairKeyFromRaw(PAIR_RAW);
      const plain = { t: 'text', body: `${'x'.repeat(size)}é🔐`, sent: 1 };
      const env = await c.encryptMessage(key, { from: 1, to: 2, sk: ALICE.key_id, rk: BOB.key_id }, plain);
      assert.equal(d(env.cid).length, 16);
      assert.equal(d(env.n).length, 12);
      assert.equal((d(env.ct).length - 16) % 32, 0);
      assert.deepEqual(await c.decryptMessage(key, { ...env, from: 1 }), plain);
    });
  }

  test('every encryption draws a fresh nonce and cid', async () => {
    const key = await c.pairKeyFromRaw(PAIR_RAW);
    const meta = { from: 1, to: 2, sk: 'a', rk: 'b' };
    const a = await c.encryptMessage(key, meta, { t: 'text', body: 'same', sent: 1 });
    const b = await c.encryptMessage(key, meta, { t: 'text', body: 'same', sent: 1 });
    assert.notEqual(a.n, b.n);
    assert.notEqual(a.cid, b.cid);
    assert.notEqual(a.ct, b.ct);
    assert.notEqual((await c.encryptVault(key, 'alice', [])).n, (await c.encryptVault(key, 'alice', [])).n);
  });

  test('vault with random keys', async () => {
    const key = await c.vaultKeyFromRaw(crypto.getRandomValues(new Uint8Array(32)));
    const entries = [];
    for (let i = 0; i < 3; i += 1) {
      const { privateRaw, publicRaw } = await c.generateIdentity();
      entries.push(c.vaultEntry(privateRaw, publicRaw, i, await c.keyId(publicRaw)));
    }
    const vault = await c.encryptVault(key, 'bob', entries);
    assert.deepEqual(await c.decryptVault(key, 'bob', vault), { v: 1, keys: entries });
  });

  for (const size of [0, 1, 65537]) {
    test(`file of ${size} bytes`, async () => {
      const data = Uint8Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff);
      const out = await c.encryptFile(data);
      assert.equal(d(out.key).length, 32);
      assert.equal(d(out.n).length, 12);
      assert.deepEqual(await c.decryptFile(out.ct, out.key, out.n, out.sha256), data);
      assert.deepEqual(await c.decryptFile(out.ct, out.key, out.n), data);
    });
  }

  test('pad and unpad every length up to 70', () => {
    for (let size = 0; size < 70; size += 1) {
      const data = crypto.getRandomValues(new Uint8Array(size));
      const padded = c.pad(data);
      assert.equal(padded.length % 32, 0);
      assert.ok(padded.length > size && padded.length <= size + 32);
      assert.deepEqual(c.unpad(padded), data);
    }
  });

  test('new cids are 16 random bytes', () => {
    const cids = new Set(Array.from({ length: 50 }, () => c.newCid()));
    assert.equal(cids.size, 50);
    for (const cid of cids) assert.equal(b64urlDecode(cid, 16).length, 16);
  });
});

describe('tamper cases', () => {
  const MSG = V.messages[0];
  const pairKey = () => c.pairKeyFromRaw(PAIR_RAW);

  for (const [field, index] of [['ct', 0], ['ct', 40], ['ct', -1], ['n', 0], ['n', 11]]) {
    test(`message with a flipped bit in ${field}[${index}] fails`, async () => {
      const env = received(MSG);
      env[field] = flipB64(env[field], index);
      await assert.rejects(c.decryptMessage(await pairKey(), env), c.CryptoError);
    });
  }

  const changes = [
    { from: 3 }, { to: 3 }, { cid: 'AAAAAAAAAAAAAAAAAAAAAQ' }, { sk: 'Zc9cmx3l1B91' }, { rk: '0Zvz8IJ4LIe3' },
    { v: 2 }, { n: 'AAAA' }, { ct: 'not base64!' }, { from: '1' }, { cid: 'a|b' },
  ];
  for (const change of changes) {
    test(`message with ${JSON.stringify(change)} fails`, async () => {
      await assert.rejects(c.decryptMessage(await pairKey(), { ...received(MSG), ...change }), c.CryptoError);
    });
  }

  for (const missing of ['from', 'to', 'cid', 'sk', 'rk', 'n', 'ct', 'v']) {
    test(`message without ${missing} fails`, async () => {
      const env = received(MSG);
      delete env[missing];
      await assert.rejects(c.decryptMessage(await pairKey(), env), c.CryptoError);
    });
  }

  test('message under the wrong key fails', async () => {
    await assert.rejects(c.decryptMessage(await c.pairKeyFromRaw(flip(PAIR_RAW)), received(MSG)), c.CryptoError);
  });

  test('message with bad padding inside fails', async () => {
    const key = await pairKey();
    const env = received(MSG);
    const aad = c.messageAad(1, 2, env.cid, env.sk, env.rk);
    const iv = new Uint8Array(12);
    const bad = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad },
      key, concatBytes(utf8Encode('{}'), new Uint8Array(30))));
    await assert.rejects(c.decryptMessage(key, { ...env, n: b64urlEncode(iv), ct: b64urlEncode(bad) }), c.CryptoError);
  });

  const VAULT = V.vault[0];
  const vaultChanges = {
    ct0: { ct: flipB64(VAULT.vault.ct) },
    tag: { ct: flipB64(VAULT.vault.ct, -1) },
    n: { n: flipB64(VAULT.vault.n) },
    version: { v: 2 },
    'n-null': { n: null },
    'ct-number': { ct: 5 },
  };
  for (const [name, change] of Object.entries(vaultChanges)) {
    test(`vault tamper ${name} fails`, async () => {
      const key = await c.vaultKeyFromRaw(d(VAULT.vault_key));
      await assert.rejects(c.decryptVault(key, VAULT.username, { ...VAULT.vault, ...change }), c.CryptoError);
    });
  }

  test('vault of another user fails', async () => {
    const key = await c.vaultKeyFromRaw(d(VAULT.vault_key));
    await assert.rejects(c.decryptVault(key, 'bob', VAULT.vault), c.CryptoError);
  });

  const FILE = V.file[0];
  for (const what of ['ct', 'n', 'key', 'sha256']) {
    test(`file with a flipped bit in ${what} fails`, async () => {
      const args = { ct: d(FILE.ct), key: FILE.key, n: FILE.n, sha256: FILE.sha256 };
      if (what === 'ct') args.ct = flip(args.ct, 3);
      else args[what] = flipB64(args[what], 3);
      await assert.rejects(c.decryptFile(args.ct, args.key, args.n, args.sha256), c.CryptoError);
    });
  }

  test('file digest of the ciphertext is rejected', async () => {
    const ct = d(FILE.ct);
    const wrong = b64urlEncode(new Uint8Array(await crypto.subtle.digest('SHA-256', ct)));
    await assert.rejects(c.decryptFile(ct, FILE.key, FILE.n, wrong), c.CryptoError);
  });

  const badPads = {
    empty: new Uint8Array(0),
    short: Uint8Array.of(0x80),
    zeros: new Uint8Array(32),
    'no-mark': new Uint8Array(32).fill(97),
    'trailing-data': concatBytes(Uint8Array.of(97, 0x80), new Uint8Array(29), Uint8Array.of(1)),
    'too-much-padding': concatBytes(Uint8Array.of(0x80), new Uint8Array(63)),
    'extra-block': concatBytes(Uint8Array.of(97, 0x80), new Uint8Array(62)),
    'bad-length': concatBytes(Uint8Array.of(97, 0x80), new Uint8Array(29)),
  };
  for (const [name, bytes] of Object.entries(badPads)) {
    test(`unpad rejects ${name}`, () => {
      assert.throws(() => c.unpad(bytes), c.CryptoError);
    });
  }

  test('pair key refuses a low-order peer point', async () => {
    const own = await c.generateIdentity();
    const { privateKey } = await c.importIdentity({ d: b64urlEncode(own.privateRaw), x: b64urlEncode(own.publicRaw) });
    const zero = new Uint8Array(32);
    await assert.rejects(c.derivePairKey(privateKey, zero, 1, 2, own.publicRaw, zero), c.CryptoError);
  });

  test('pair key refuses a peer key outside the pair', async () => {
    const { privateKey } = await c.importIdentity({ d: ALICE.private, x: ALICE.public });
    const stranger = (await c.generateIdentity()).publicRaw;
    await assert.rejects(c.derivePairKey(privateKey, stranger, 1, 2, d(ALICE.public), d(BOB.public)), c.CryptoError);
  });

  for (const [lo, hi] of [[2, 1], [1, 1], ['1', 2], [-1, 2], [1.5, 2]]) {
    test(`pair ids ${JSON.stringify([lo, hi])} are refused`, async () => {
      const { privateKey } = await c.importIdentity({ d: ALICE.private, x: ALICE.public });
      await assert.rejects(c.derivePairKey(privateKey, d(BOB.public), lo, hi, d(ALICE.public), d(BOB.public)));
      await assert.rejects(c.safetyNumber(lo, d(ALICE.public), hi, d(BOB.public)));
    });
  }
});

describe('normalisation', () => {
  for (const [input, out] of [['Alice', 'alice'], ['ＢＯＢ', 'bob'], ['a.b-c_9', 'a.b-c_9'], ['\u212Aate', 'kate']]) {
    test(`username ${input} becomes ${out}`, () => assert.equal(c.normaliseUsername(input), out));
  }
  for (const bad of ['ab', 'a'.repeat(33), 'al ice', 'alice!', 'élodie', '', 42]) {
    test(`username ${JSON.stringify(bad)} is refused`, () => assert.throws(() => c.normaliseUsername(bad)));
  }
  test('short passwords are refused after NFKC', () => {
    assert.throws(() => c.normalisePassword('1234567'), /at least 8/);
    assert.throws(() => c.normalisePassword('🔐🔐🔐🔐🔐🔐🔐'), /at least 8/);
    assert.equal(c.normalisePassword('ｐａｓｓｗｏｒｄ'), 'password');
  });
});

describe('strict base64url', () => {
  for (const data of [[], [0], [255, 254], [97, 98, 99], Array.from({ length: 256 }, (_, i) => i)]) {
    test(`round trip of ${data.length} bytes`, () => {
      const bytes = Uint8Array.from(data);
      const text = b64urlEncode(bytes);
      assert.doesNotMatch(text, /[=+/]/);
      assert.deepEqual(b64urlDecode(text), bytes);
      assert.deepEqual(b64urlDecode(text, bytes.length), bytes);
    });
  }

  test('matches a reference encoder', () => {
    for (let n = 0; n < 40; n += 1) {
      const bytes = crypto.getRandomValues(new Uint8Array(n));
      const reference = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      assert.equal(b64urlEncode(bytes), reference);
    }
  });

  const bad = ['YQ==', 'YQ=', 'Y', 'YWJjZ', '+/8', 'a/8', 'a+8', 'YW Jj', 'YWJj\n', ' YWJj', 'ä', 'YR', 'YWF',
    'AAAAAAAAAAAAAAAAAAAAAB', '٣٣٣٣', null, undefined, 12, ['YQ'], new Uint8Array(4)];
  for (const value of bad) {
    test(`decode rejects ${JSON.stringify(value) ?? String(value)}`, () => {
      assert.throws(() => b64urlDecode(value));
    });
  }

  for (const [text, length] of [['YQ', 2], ['YWJj', 2], ['', 1], ['AAAAAAAAAAAAAAAA', 11]]) {
    test(`decode rejects ${JSON.stringify(text)} for length ${length}`, () => {
      assert.throws(() => b64urlDecode(text, length));
    });
  }

  test('utf8 is strict both ways', () => {
    assert.equal(utf8Decode(utf8Encode('é🔐')), 'é🔐');
    assert.throws(() => utf8Decode(Uint8Array.of(0xc3)));
    assert.throws(() => utf8Encode('\ud800'));
  });
});
