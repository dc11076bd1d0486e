// The conversation-kind seam of static/js/chat/ (pairs.js describes it): the kind-neutral
// modules ask ChatClient.kindOf(key) how to fetch, address and show a conversation, so a
// second kind (groups, PROTOCOL §9) plugs in without touching them.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { setup } from './helpers/chat_setup.mjs';

test('history, typing and read markers name a conversation the way its kind says', async () => {
  const { users: { alice } } = await setup();
  const client = alice.client;
  const row = { unread: 0, readUpTo: 0, peerReadUpTo: 0, lastId: 0, lastTs: null, preview: '' };
  const asked = [];
  const kind = {
    row: () => row,
    address: () => ({ group: 7 }),
    mayType: () => true,
    history: async (key, opts) => { asked.push(['history', key, opts]); return { messages: [], more: false }; },
    cached: async (key, opts) => { asked.push(['cached', key, opts]); return []; },
  };
  client.kindOf = (key) => (key === 'g:7' ? kind : client.pairs);
  await client.open('g:7');
  assert.deepEqual(asked, [['cached', 'g:7', { limit: 50 }], ['history', 'g:7', { limit: 50 }]]);
  client.typing('g:7');
  client.conv('g:7').list.upsert({ id: 9, cid: 'c9', from: 3, ts: 1, kind: 'text', body: 'x' });
  client.setReading(true);
  const sent = alice.transport.sent.filter(([name]) => name === 'typing' || name === 'read');
  assert.deepEqual(sent, [['typing', { group: 7, on: true }], ['read', { group: 7, up_to: 9 }]]);
  assert.equal(row.readUpTo, 9);
  client.stopTyping();
});
