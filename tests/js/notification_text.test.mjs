// What a notification says (static/js/notification_text.js), with and without the message text.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { notificationContent } from '../../static/js/notification_text.js';

test('by default a notification shows the message text', () => {
  assert.deepEqual(notificationContent({ title: 'bob', text: 'the code is 4711' }), { title: 'bob', body: 'the code is 4711' });
  assert.deepEqual(notificationContent({ title: 'Hikers', sender: 'carol', text: 'see you at 8' }),
    { title: 'Hikers', body: 'carol: see you at 8' });
});

test('with the text hidden, a notification names the sender and never the text', () => {
  const pair = notificationContent({ title: 'bob', text: 'the code is 4711' }, { hideText: true });
  assert.deepEqual(pair, { title: 'bob', body: 'New message' });
  const group = notificationContent({ title: 'Hikers', sender: 'carol', text: 'see you at 8' }, { hideText: true });
  assert.deepEqual(group, { title: 'Hikers', body: 'New message from carol' });
  assert.ok(!JSON.stringify([pair, group]).includes('4711') && !JSON.stringify(group).includes('see you'));
});
