// The pinning rule (PROTOCOL §3, §6): a key counts only when its id is its hash, and a
// friend's key id is trusted only when the user accepted it; accepted sets travel in the vault.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as crypto from '../../static/js/crypto.js';
import { b64urlEncode } from '../../static/js/encoding.js';
import {
  judge, mergePeers, peersFromRecords, readPeers, samePeers, TRUST, verifiedKey, writePeers,
} from '../../static/js/pins.js';

async function publicKey() {
  const { publicRaw } = await crypto.generateIdentity();
  return { raw: publicRaw, id: await crypto.keyId(publicRaw), b64: b64urlEncode(publicRaw) };
}

test('a key is kept only when its id is the hash of its bytes', async () => {
  const a = await publicKey();
  const b = await publicKey();
  const kept = await verifiedKey(crypto, { id: a.id, public_key: a.b64, created: 5, current: true });
  assert.deepEqual(kept.raw, a.raw);
  assert.equal(kept.current, true);
  assert.equal(await verifiedKey(crypto, { id: a.id, public_key: b.b64, current: true }), null, 'same id, other key');
  assert.equal(await verifiedKey(crypto, { id: a.id, public_key: a.b64.slice(0, 40) }), null, 'malformed bytes');
  assert.equal(await verifiedKey(crypto, { id: 'short', public_key: a.b64 }), null);
  assert.equal(await verifiedKey(crypto, null), null);
});

test('a key id is accepted, first use (nothing accepted yet) or a change', () => {
  assert.equal(judge(null, 'AAAAAAAAAAAA'), TRUST.FIRST_USE);
  assert.equal(judge(new Set(), 'AAAAAAAAAAAA'), TRUST.FIRST_USE);
  assert.equal(judge(new Set(['AAAAAAAAAAAA']), 'AAAAAAAAAAAA'), TRUST.ACCEPTED);
  assert.equal(judge(new Set(['AAAAAAAAAAAA']), 'BBBBBBBBBBBB'), TRUST.CHANGED);
});

test('the vault field reads back what was written, skips junk, and merging only adds', () => {
  const peers = readPeers({ 7: ['BBBBBBBBBBBB', 'AAAAAAAAAAAA'], 12: ['CCCCCCCCCCCC', 5, 'short'], x: ['AAAAAAAAAAAA'], 3: 'no' });
  assert.deepEqual(writePeers(peers), { 7: ['AAAAAAAAAAAA', 'BBBBBBBBBBBB'], 12: ['CCCCCCCCCCCC'] });
  assert.deepEqual(readPeers(undefined), new Map(), 'an older vault has no peers field');
  const merged = mergePeers(peers, new Map([[7, new Set(['DDDDDDDDDDDD'])], [9, new Set(['EEEEEEEEEEEE'])]]));
  assert.deepEqual(writePeers(merged), { 7: ['AAAAAAAAAAAA', 'BBBBBBBBBBBB', 'DDDDDDDDDDDD'], 9: ['EEEEEEEEEEEE'], 12: ['CCCCCCCCCCCC'] });
  assert.ok(samePeers(merged, readPeers(writePeers(merged))));
  assert.ok(!samePeers(merged, peers));
});

test('device records of both shapes (accepted list, or the older single acked id) are read', () => {
  const records = new Map([[1, { accepted: ['AAAAAAAAAAAA', 'BBBBBBBBBBBB'], synced: true }], [2, { seen: 'X', acked: 'CCCCCCCCCCCC' }], [3, {}]]);
  assert.deepEqual(writePeers(peersFromRecords(records)), { 1: ['AAAAAAAAAAAA', 'BBBBBBBBBBBB'], 2: ['CCCCCCCCCCCC'] });
});
