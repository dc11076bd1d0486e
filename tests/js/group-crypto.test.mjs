// Browser group crypto against the shared vectors, round trips and tamper cases (PROTOCOL §9.3, §9.4, §9.6).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import * as c from '../../static/js/crypto.js';
import { b64urlEncode, utf8Encode } from '../../static/js/encoding.js';
import * as g from '../../static/js/groupcrypto.js';
import { d, flip, flipB64 } from './helpers/tamper.mjs';

const V = JSON.parse(readFileSync(new URL('../vectors/group-vectors.json', import.meta.url), 'utf8'));
const KEYS = Object.fromEntries(V.keys.map((k) => [k.user_id, k]));
const MESSAGES = Object.fromEntries(V.messages.map((m) => [m.name, m]));
const TEXT = MESSAGES.text;
const DELIVERED = V.delivered[0];
const MUST_FAIL = V.must_fail;
const pub = (user) => d(KEYS[user].public);
const exportRaw = async (key) => new Uint8Array(await crypto.subtle.exportKey('raw', key));
const clone = (value) => JSON.parse(JSON.stringify(value));
const BOB_PAIR_RAW = d(V.pairs.find((p) => p.lo === 1 && p.hi === 2).pair_key);
const bobPair = () => c.pairKeyFromRaw(BOB_PAIR_RAW);
const bobCopy = () => clone(DELIVERED.envelope);


const privates = new Map();
/** The vector user's private key, imported non-extractable as a client would. */
async function privateKey(user) {
  if (!privates.has(user)) privates.set(user, (await c.importIdentity({ d: KEYS[user].private, x: KEYS[user].public })).privateKey);
  return privates.get(user);
}

/** The pair key `me` derives with `other` (self pair when equal); extractable only to compare bytes. */
async function memberPairKey(me, other, options = {}) {
  return g.deriveGroupPairKey(await privateKey(me), me, pub(me), other, pub(other), options);
}

/** The copy `user` receives of a message vector: server fields added, only its own entry (§9.5). */
function received(message, user) {
  const env = message.envelope;
  const entry = env.keys.find((e) => e.to === user);
  return { v: 1, id: 101, from: message.from, ts: 1, g: env.g, cid: env.cid, sk: env.sk, n: env.n, ct: env.ct, keys: [{ ...entry }] };
}

describe('vectors: keys and pair keys', () => {
  for (const v of V.keys) {
    test(`identity ${v.username}: key id`, async () => {
      assert.equal(await c.keyId(d(v.public)), v.key_id);
      await privateKey(v.user_id);
    });
  }

  for (const v of V.pairs) {
    test(`pair key ${v.lo}/${v.hi} from both sides`, async () => {
      const shared = new Uint8Array(await crypto.subtle.deriveBits(
        { name: 'X25519', public: await crypto.subtle.importKey('raw', d(v.hi_public), { name: 'X25519' }, true, []) },
        await privateKey(v.lo), 256));
      assert.equal(b64urlEncode(shared), v.shared);
      for (const [me, other] of [[v.lo, v.hi], [v.hi, v.lo]]) {
        const key = await memberPairKey(me, other, { extractable: true });
        assert.equal(b64urlEncode(await exportRaw(key)), v.pair_key);
        assert.equal((await memberPairKey(me, other)).extractable, false);
      }
      assert.ok(v.info.startsWith(`sendapp/v1/pair|${v.lo}|${v.hi}|${v.lo_public}|${v.hi_public}`));
      const direct = await c.derivePairKey(await privateKey(v.lo), d(v.hi_public), v.lo, v.hi, d(v.lo_public), d(v.hi_public), { extractable: true });
      assert.equal(b64urlEncode(await exportRaw(direct)), v.pair_key);
    });
  }

  for (const user of [1, 2]) {
    test(`self pair key of user ${user}`, async () => {
      const v = V.pairs.find((p) => p.lo === user && p.hi === user);
      assert.equal(v.info, `sendapp/v1/pair|${user}|${user}|${KEYS[user].public}|${KEYS[user].public}`);
      const key = await g.deriveSelfPairKey(await privateKey(user), user, pub(user), { extractable: true });
      assert.equal(b64urlEncode(await exportRaw(key)), v.pair_key);
    });
  }

  test('the self pair refuses another public key', async () => {
    await assert.rejects(g.deriveGroupPairKey(await privateKey(1), 1, pub(1), 1, pub(2)), c.CryptoError);
  });

  test('equal ids need one key on both sides', async () => {
    await assert.rejects(c.derivePairKey(await privateKey(1), pub(2), 1, 1, pub(1), pub(2)), RangeError);
  });

  for (const v of V.safety) {
    test(`co-member safety number ${v.lo}/${v.hi}`, async () => {
      assert.equal(await c.safetyNumber(v.lo, d(v.lo_public), v.hi, d(v.hi_public)), v.safety);
      assert.equal(v.lo_public, KEYS[v.lo].public);
      assert.equal(v.hi_public, KEYS[v.hi].public);
    });
  }
});

describe('vectors: messages', () => {
  for (const m of V.messages) {
    const env = m.envelope;

    test(`${m.name}: padded, aad, ct and h`, async () => {
      assert.deepEqual(c.pad(utf8Encode(m.plain_json)), d(m.padded));
      assert.deepEqual(g.groupMessageAad(m.g, m.from, env.cid, env.sk), utf8Encode(m.aad));
      assert.equal(await g.ciphertextHash(d(env.ct)), m.ct_sha256);
      assert.equal(env.sk, KEYS[m.from].key_id);
      assert.deepEqual(await c.open(await c.importAesKey(d(m.K)), d(env.n), d(env.ct), utf8Encode(m.aad)), d(m.padded));
    });

    test(`${m.name}: every wrap (pair key, nonce, aad, w)`, async () => {
      assert.deepEqual(m.wraps.map((w) => w.to), env.keys.map((e) => e.to));
      for (const [i, w] of m.wraps.entries()) {
        assert.deepEqual([w.lo, w.hi], [Math.min(m.from, w.to), Math.max(m.from, w.to)]);
        assert.equal(w.rk, KEYS[w.to].key_id);
        assert.equal(b64urlEncode(await exportRaw(await memberPairKey(m.from, w.to, { extractable: true }))), w.pair_key);
        assert.equal(b64urlEncode(await exportRaw(await memberPairKey(w.to, m.from, { extractable: true }))), w.pair_key);
        const aad = g.groupWrapAad(m.g, m.from, w.to, env.cid, env.sk, w.rk, m.ct_sha256);
        assert.deepEqual(aad, utf8Encode(w.aad));
        const sealed = await c.seal(await c.pairKeyFromRaw(d(w.pair_key)), d(m.K), aad, d(w.n));
        assert.equal(b64urlEncode(sealed.ct), w.w);
        assert.deepEqual(env.keys[i], { to: w.to, rk: w.rk, n: w.n, w: w.w });
      }
    });

    test(`${m.name}: sealGroupMessage reproduces the envelope`, async () => {
      const recipients = [];
      for (const w of m.wraps) recipients.push({ to: w.to, rk: w.rk, pairKey: await memberPairKey(m.from, w.to) });
      const wrapNonces = new Map(m.wraps.map((w) => [w.to, d(w.n)]));
      const out = await g.sealGroupMessage({ g: m.g, from: m.from, sk: env.sk, cid: env.cid }, recipients,
        JSON.parse(m.plain_json), { messageKey: d(m.K), nonce: d(env.n), wrapNonces });
      assert.deepEqual(out, env);
      assert.equal(JSON.stringify(out), JSON.stringify(env)); // same key order too
      const byObject = await g.sealGroupMessage({ g: m.g, from: m.from, sk: env.sk, cid: env.cid }, recipients,
        JSON.parse(m.plain_json), { messageKey: d(m.K), nonce: d(env.n), wrapNonces: Object.fromEntries(wrapNonces) });
      assert.deepEqual(byObject, env);
    });

    for (const o of m.opened) {
      test(`${m.name}: member ${o.user} opens K and the plaintext`, async () => {
        const pairKey = await memberPairKey(o.user, m.from);
        const copy = received(m, o.user);
        assert.equal(g.groupEntry(copy, o.user).rk, KEYS[o.user].key_id);
        assert.equal(b64urlEncode(await g.unwrapMessageKey(pairKey, copy, o.user)), o.K);
        assert.deepEqual(await g.openGroupMessage(pairKey, copy, o.user), JSON.parse(o.plain_json));
        assert.deepEqual(await g.openGroupMessage(pairKey, { ...env, from: m.from }, o.user), JSON.parse(o.plain_json));
      });
    }
  }

  test('every member opens every message', () => {
    const opened = V.messages.flatMap((m) => m.opened.map((o) => `${m.name}/${o.user}`)).sort();
    assert.deepEqual(opened, ['file/1', 'file/2', 'file/3', 'group/1', 'group/2', 'group/3', 'text/1', 'text/2', 'text/3']);
  });

  test("bob's delivered copy opens", async () => {
    const env = bobCopy();
    const message = MESSAGES[DELIVERED.message];
    assert.equal(DELIVERED.user, 2);
    assert.deepEqual(env, { ...received(message, 2), id: env.id, ts: env.ts });
    assert.deepEqual(await g.openGroupMessage(await memberPairKey(2, env.from), env, 2), JSON.parse(message.plain_json));
  });

  test('the file message points to the file vector', async () => {
    const m = MESSAGES.file;
    const plain = await g.openGroupMessage(await memberPairKey(3, m.from), received(m, 3), 3);
    const f = V.file[0];
    assert.deepEqual([plain.blob, plain.key, plain.n, plain.sha256], [f.blob, f.key, f.n, f.sha256]);
    const data = await c.decryptFile(d(f.ct), plain.key, plain.n, plain.sha256);
    assert.deepEqual(data, d(f.plain));
    assert.equal(data.length, plain.size);
  });

  test('the group plaintext vector builds and reads', () => {
    const m = MESSAGES.group;
    const vector = JSON.parse(m.plain_json);
    assert.equal(JSON.stringify(g.groupPlaintext(vector.name, [3, 1, 2], [1], vector.sent)), m.plain_json);
    assert.deepEqual(g.readGroupPlaintext(vector), vector);
    assert.equal(g.codePointLength(vector.name), 15); // "Maison 🏡 Dupont"
    assert.equal(vector.name.length, 16); // UTF-16 units
  });
});

describe('vectors: must fail', () => {
  test('the cases cover every AAD field and the key', () => {
    const kinds = new Set(MUST_FAIL.map((v) => `${v.field}/${v.kind}`));
    for (const k of ['g/wrap', 'g/ct', 'from/wrap', 'from/ct', 'to/wrap', 'cid/wrap', 'cid/ct', 'sk/wrap', 'sk/ct', 'rk/wrap', 'h/wrap', 'key/wrap']) {
      assert.ok(kinds.has(k), k);
    }
  });

  const CAROL_KID = KEYS[3].key_id;
  const OTHER_CID = 'aGhoaGhoaGhoaGhoaGhoaA';
  /** Apply one case to bob's delivered envelope; answer [envelope, raw pair key, reader]. */
  function tampered(v) {
    const env = bobCopy();
    let pair = BOB_PAIR_RAW;
    let me = 2;
    if (v.field === 'g') env.g = 6;
    else if (v.field === 'from') env.from = 3;
    else if (v.field === 'to') { env.keys[0].to = 3; me = 3; }
    else if (v.field === 'cid') env.cid = OTHER_CID;
    else if (v.field === 'sk') env.sk = CAROL_KID;
    else if (v.field === 'rk') env.keys[0].rk = CAROL_KID;
    else if (v.field === 'h') env.ct = v.forged.ct;
    else if (v.field === 'key') pair = d(v.key);
    else throw new Error(`unknown must_fail field ${v.field}`);
    return [env, pair, me];
  }

  for (const v of MUST_FAIL) {
    test(`must fail: ${v.why}`, async () => {
      const key = v.kind === 'ct' ? await c.importAesKey(d(v.key)) : await c.pairKeyFromRaw(d(v.key));
      await assert.rejects(c.open(key, d(v.n), d(v.ct), utf8Encode(v.aad)), c.CryptoError);
      const [env, pair, me] = tampered(v);
      if (v.kind === 'wrap') {
        const aad = g.groupWrapAad(env.g, env.from, me, env.cid, env.sk, env.keys[0].rk, await g.ciphertextHash(d(env.ct)));
        assert.deepEqual(aad, utf8Encode(v.aad));
        assert.deepEqual([v.n, v.ct], [env.keys[0].n, env.keys[0].w]);
      } else {
        assert.deepEqual(g.groupMessageAad(env.g, env.from, env.cid, env.sk), utf8Encode(v.aad));
        assert.deepEqual([v.key, v.n, v.ct], [TEXT.K, env.n, env.ct]);
      }
      await assert.rejects(g.openGroupMessage(await c.pairKeyFromRaw(pair), env, me), c.CryptoError);
    });
  }

  test('a ct forged with K opens under K, but no wrap accepts it', async () => {
    const v = MUST_FAIL.find((x) => x.field === 'h');
    const { forged } = v;
    assert.equal(forged.opens_with_K, true);
    assert.equal(await g.ciphertextHash(d(forged.ct)), forged.ct_sha256);
    assert.notEqual(forged.ct_sha256, TEXT.ct_sha256);
    const env = { ...bobCopy(), ct: forged.ct };
    assert.deepEqual(await g.openGroupContent(d(TEXT.K), env), JSON.parse(forged.plain_json));
    await assert.rejects(g.unwrapMessageKey(await bobPair(), env, 2), c.CryptoError);
  });
});

describe('round trips', () => {
  /** n users with fresh identities: Map(id → {privateKey, publicRaw, kid}). */
  async function people(n) {
    const out = new Map();
    for (let id = 10; id < 10 + n; id += 1) {
      const { privateRaw, publicRaw } = await c.generateIdentity();
      const { privateKey } = await c.importIdentity({ d: b64urlEncode(privateRaw), x: b64urlEncode(publicRaw) });
      out.set(id, { privateKey, publicRaw, kid: await c.keyId(publicRaw) });
    }
    return out;
  }
  async function recipients(ppl, sender) {
    const me = ppl.get(sender);
    const out = [];
    for (const [id, p] of ppl) {
      out.push({ to: id, rk: p.kid, pairKey: await g.deriveGroupPairKey(me.privateKey, sender, me.publicRaw, id, p.publicRaw) });
    }
    return out;
  }
  const deliver = (env, sender, me) => ({ ...env, from: sender, id: 1, ts: 1, keys: [env.keys.find((e) => e.to === me)] });

  for (const size of [0, 1, 31, 1000]) {
    test(`a ${size}-character message opens for every member`, async () => {
      const ppl = await people(4);
      const sender = 11;
      const plain = { t: 'text', body: `${'x'.repeat(size)}é🔐`, sent: 1 };
      const env = await g.sealGroupMessage({ g: 7, from: sender, sk: ppl.get(sender).kid }, await recipients(ppl, sender), plain);
      assert.deepEqual(env.keys.map((e) => e.to), [...ppl.keys()]);
      assert.equal(d(env.cid).length, 16);
      assert.equal(d(env.n).length, 12);
      assert.equal((d(env.ct).length - 16) % 32, 0);
      for (const [me, p] of ppl) {
        const pairKey = await g.deriveGroupPairKey(p.privateKey, me, p.publicRaw, sender, ppl.get(sender).publicRaw);
        assert.deepEqual(await g.openGroupMessage(pairKey, deliver(env, sender, me), me), plain);
      }
    });
  }

  test('a sender alone reads its own message with its key only', async () => {
    const ppl = await people(1);
    const [[me, p]] = [...ppl];
    const plain = g.groupPlaintext('', [me], [me], 5);
    const env = await g.sealGroupMessage({ g: 3, from: me, sk: p.kid }, await recipients(ppl, me), plain);
    const otherDevice = await g.deriveSelfPairKey(p.privateKey, me, p.publicRaw);
    assert.deepEqual(await g.openGroupMessage(otherDevice, deliver(env, me, me), me), plain);
  });

  test('each seal draws a fresh K, fresh nonces and a fresh cid', async () => {
    const ppl = await people(3);
    const rs = await recipients(ppl, 10);
    const plain = { t: 'text', body: 'same', sent: 1 };
    const a = await g.sealGroupMessage({ g: 7, from: 10, sk: ppl.get(10).kid }, rs, plain);
    const b = await g.sealGroupMessage({ g: 7, from: 10, sk: ppl.get(10).kid }, rs, plain);
    assert.notEqual(a.cid, b.cid);
    assert.notEqual(a.ct, b.ct);
    const nonces = [a.n, b.n, ...a.keys.map((e) => e.n), ...b.keys.map((e) => e.n)];
    assert.equal(new Set(nonces).size, nonces.length);
    const ka = await g.unwrapMessageKey(rs[0].pairKey, { ...a, from: 10 }, 10);
    const kb = await g.unwrapMessageKey(rs[0].pairKey, { ...b, from: 10 }, 10);
    assert.notDeepEqual(ka, kb);
  });

  test('a re-seal after stale_members keeps the cid', async () => {
    const ppl = await people(2);
    const cid = c.newCid();
    const plain = { t: 'text', body: 'again', sent: 1 };
    const a = await g.sealGroupMessage({ g: 7, from: 10, sk: ppl.get(10).kid, cid }, await recipients(ppl, 10), plain);
    const b = await g.sealGroupMessage({ g: 7, from: 10, sk: ppl.get(10).kid, cid }, await recipients(ppl, 10), plain);
    assert.equal(a.cid, cid);
    assert.equal(b.cid, cid);
    assert.notEqual(a.ct, b.ct);
  });

  test('an injected message key is left as it was', async () => {
    const K = d(TEXT.K);
    const rs = [{ to: 1, rk: KEYS[1].key_id, pairKey: await memberPairKey(1, 1) }];
    await g.sealGroupMessage({ g: 5, from: 1, sk: KEYS[1].key_id }, rs, { t: 'text', body: 'x', sent: 1 }, { messageKey: K });
    assert.equal(b64urlEncode(K), TEXT.K);
  });
});

describe('sealing refuses what the server would refuse', () => {
  async function vectorRecipients() {
    const out = [];
    for (const w of TEXT.wraps) out.push({ to: w.to, rk: w.rk, pairKey: await c.pairKeyFromRaw(d(w.pair_key)) });
    return out;
  }
  const cases = {
    'no self wrap': (r) => r.slice(1),
    'self rk is not sk': (r) => [{ ...r[0], rk: KEYS[2].key_id }, ...r.slice(1)],
    'a member twice': (r) => [...r, r[1]],
    empty: () => [],
    'bad rk': (r) => [r[0], { ...r[1], rk: 'bad|kid' }],
    'string id': (r) => [r[0], { ...r[1], to: '2' }],
    'raw bytes as pair key': (r) => [r[0], { ...r[1], pairKey: BOB_PAIR_RAW }],
    'not an array': () => 'x',
  };
  for (const [name, change] of Object.entries(cases)) {
    test(`refuses recipients: ${name}`, async () => {
      await assert.rejects(g.sealGroupMessage({ g: 5, from: 1, sk: KEYS[1].key_id }, change(await vectorRecipients()),
        { t: 'text', body: 'x', sent: 1 }));
    });
  }

  test('refuses a non-object plaintext and a short key', async () => {
    const rs = await vectorRecipients();
    await assert.rejects(g.sealGroupMessage({ g: 5, from: 1, sk: KEYS[1].key_id }, rs, 'hello'), TypeError);
    await assert.rejects(g.sealGroupMessage({ g: 5, from: 1, sk: KEYS[1].key_id }, rs, { t: 'text' }, { messageKey: new Uint8Array(31) }), TypeError);
    await assert.rejects(g.sealGroupMessage({ g: '5', from: 1, sk: KEYS[1].key_id }, rs, { t: 'text' }), TypeError);
  });
});

describe('tamper cases', () => {
  const flips = [['env', 'ct', 0], ['env', 'ct', 40], ['env', 'ct', -1], ['env', 'n', 0], ['env', 'n', 11],
    ['entry', 'n', 0], ['entry', 'n', 11], ['entry', 'w', 0], ['entry', 'w', 31], ['entry', 'w', -1]];
  for (const [where, name, index] of flips) {
    test(`a flipped bit in ${where}.${name}[${index}] fails`, async () => {
      const env = bobCopy();
      const target = where === 'env' ? env : env.keys[0];
      target[name] = flipB64(target[name], index);
      await assert.rejects(g.openGroupMessage(await bobPair(), env, 2), c.CryptoError);
    });
  }

  const changes = [{ v: 2 }, { g: '5' }, { g: true }, { from: '1' }, { cid: 'a|b' }, { sk: 5 }, { n: 'AAAA' },
    { ct: 'not base64!' }, { keys: [] }, { keys: 'x' }, { keys: [null] }];
  for (const change of changes) {
    test(`an envelope with ${JSON.stringify(change)} fails`, async () => {
      await assert.rejects(g.openGroupMessage(await bobPair(), { ...bobCopy(), ...change }, 2), c.CryptoError);
    });
  }

  for (const missing of ['v', 'g', 'from', 'cid', 'sk', 'n', 'ct', 'keys']) {
    test(`an envelope without ${missing} fails`, async () => {
      const env = bobCopy();
      delete env[missing];
      await assert.rejects(g.openGroupMessage(await bobPair(), env, 2), c.CryptoError);
    });
  }

  for (const missing of ['to', 'rk', 'n', 'w']) {
    test(`an entry without ${missing} fails`, async () => {
      const env = bobCopy();
      delete env.keys[0][missing];
      await assert.rejects(g.openGroupMessage(await bobPair(), env, 2), c.CryptoError);
    });
  }

  test('an entry for someone else, twice, or with to = "2" fails', async () => {
    const env = bobCopy();
    await assert.rejects(g.openGroupMessage(await bobPair(), env, 3), c.CryptoError);
    await assert.rejects(g.openGroupMessage(await bobPair(), { ...env, keys: [...env.keys, ...env.keys] }, 2), c.CryptoError);
    await assert.rejects(g.openGroupMessage(await bobPair(), { ...env, keys: [{ ...env.keys[0], to: '2' }] }, 2), c.CryptoError);
  });

  test('a wrap of a 31-byte key fails (K must be 32 bytes)', async () => {
    const env = bobCopy();
    const entry = env.keys[0];
    const aad = g.groupWrapAad(5, 1, 2, env.cid, env.sk, entry.rk, await g.ciphertextHash(d(env.ct)));
    const short = await c.seal(await bobPair(), d(TEXT.K).slice(0, 31), aad, d(entry.n));
    env.keys[0] = { ...entry, w: b64urlEncode(short.ct) };
    await assert.rejects(g.openGroupMessage(await bobPair(), env, 2), c.CryptoError);
  });

  test('a wrong pair key fails', async () => {
    await assert.rejects(g.openGroupMessage(await c.pairKeyFromRaw(flip(BOB_PAIR_RAW)), bobCopy(), 2), c.CryptoError);
    await assert.rejects(g.openGroupMessage(await memberPairKey(3, 1), bobCopy(), 2), c.CryptoError);
  });

  test('bad padding or a non-object inside fails', async () => {
    const env = bobCopy();
    const aad = g.groupMessageAad(5, 1, env.cid, env.sk);
    const K = await c.importAesKey(d(TEXT.K));
    const padded = new Uint8Array(32);
    padded.set(utf8Encode('{}'));
    for (const inner of [padded, c.pad(utf8Encode('[1,2]'))]) {
      const sealed = await c.seal(K, inner, aad, d(env.n));
      await assert.rejects(g.openGroupContent(d(TEXT.K), { ...env, ct: b64urlEncode(sealed.ct) }), c.CryptoError);
    }
  });
});

describe('group plaintexts (§9.3)', () => {
  const EMOJI = '🏡'; // one code point, two UTF-16 units

  test('a name counts code points, not UTF-16 units', () => {
    assert.equal(EMOJI.length, 2);
    assert.equal(g.codePointLength(EMOJI), 1);
    assert.equal(g.codePointLength(`a${EMOJI}b`), 3);
    assert.equal(g.codePointLength('\ud800x'), 2); // a lone surrogate counts once
    assert.equal(g.groupPlaintext(EMOJI.repeat(100), [1], [1], 1).name, EMOJI.repeat(100));
    assert.throws(() => g.groupPlaintext(EMOJI.repeat(101), [1], [1], 1), RangeError);
    assert.throws(() => g.groupPlaintext('a'.repeat(101), [1], [1], 1), RangeError);
  });

  test('an unnamed group is allowed; ids are sorted', () => {
    assert.deepEqual(g.groupPlaintext('', [2, 1, 2], [2], 9), { t: 'group', name: '', members: [1, 2], admins: [2], sent: 9 });
  });

  test('a received long name is cut to 100 code points', () => {
    const plain = { t: 'group', name: `${EMOJI.repeat(150)}x`, members: [1], admins: [1], sent: 1 };
    assert.equal(g.readGroupPlaintext(plain).name, EMOJI.repeat(100));
    assert.equal(g.shownGroupName(`ab${EMOJI.repeat(99)}c`), `ab${EMOJI.repeat(98)}`);
    assert.equal(g.shownGroupName('short'), 'short');
  });

  test('reading drops unknown fields', () => {
    const plain = { t: 'group', name: 'n', members: [1, 2], admins: [1], sent: 1, avatar: 'x' };
    assert.equal('avatar' in g.readGroupPlaintext(plain), false);
  });

  const bad = [{ t: 'text' }, { name: null }, { name: 5 }, { members: [2, 1] }, { members: [1, 1, 2] },
    { members: [1, true] }, { members: ['1', '2'] }, { members: [1, -2] }, { members: '12' }, { members: [1, 2.5] },
    { admins: [3] }, { admins: null }, { admins: [1, 1] }, { sent: '1' }, { sent: null }, { sent: 1.5 }, { sent: true }];
  for (const change of bad) {
    test(`reading refuses ${JSON.stringify(change)}`, () => {
      assert.throws(() => g.readGroupPlaintext({ t: 'group', name: 'n', members: [1, 2], admins: [1], sent: 1, ...change }), TypeError);
    });
  }

  test('reading refuses a non-object', () => {
    assert.throws(() => g.readGroupPlaintext(['group']), TypeError);
  });

  const badBuild = {
    'name null': [null, [1], [1], 1],
    'admin not a member': ['n', [1], [2], 1],
    'string id': ['n', [1, '2'], [1], 1],
    'not an array': ['n', 1, [1], 1],
    'negative time': ['n', [1], [1], -1],
    'bool id': ['n', [true], [1], 1],
    'lone surrogate': ['\ud800', [1], [1], 1],
  };
  for (const [name, args] of Object.entries(badBuild)) {
    test(`building refuses ${name}`, () => {
      assert.throws(() => g.groupPlaintext(...args));
    });
  }
});
