// The §9.6 roster rules of static/js/chat/roster.js, without a client: which `group` message
// is applied, who is unconfirmed, and what a new listing changed.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { judgeGroupMessage, listingChanges, unconfirmedMembers, VERDICT } from '../../static/js/chat/roster.js';

const listed = [{ id: 1, role: 'admin' }, { id: 2, role: 'member' }, { id: 3, role: 'member' }];

test('the first group message read is trusted, whoever sent it', () => {
  assert.equal(judgeGroupMessage(null, { id: 10, from: 2 }, listed), VERDICT.FIRST);
});

test('a group message applies only from an admin of the roster applied before it', () => {
  const roster = { msgId: 10, members: [1, 2, 3], admins: [1] };
  assert.equal(judgeGroupMessage(roster, { id: 11, from: 1 }, listed), VERDICT.ADMIN);
  assert.equal(judgeGroupMessage(roster, { id: 12, from: 2 }, listed), VERDICT.NOT_ADMIN);
});

test('a member the server made admin is not trusted while an admin of the roster is still listed', () => {
  const roster = { msgId: 10, members: [1, 2, 3], admins: [1] };
  const serverSays = [{ id: 1, role: 'admin' }, { id: 2, role: 'admin' }];
  assert.equal(judgeGroupMessage(roster, { id: 11, from: 2 }, serverSays), VERDICT.NOT_ADMIN);
});

test('when no admin of the roster is listed any more, the next message from a listed admin applies', () => {
  const roster = { msgId: 10, members: [1, 2, 3], admins: [1] };
  const afterLeave = [{ id: 2, role: 'admin' }, { id: 3, role: 'member' }];
  assert.equal(judgeGroupMessage(roster, { id: 11, from: 2 }, afterLeave), VERDICT.SERVER_CHOSE);
  assert.equal(judgeGroupMessage(roster, { id: 11, from: 3 }, afterLeave), VERDICT.NOT_ADMIN);
});

test('a group message older than the applied roster is never applied', () => {
  const roster = { msgId: 10, members: [1, 2], admins: [1] };
  assert.equal(judgeGroupMessage(roster, { id: 9, from: 1 }, listed), VERDICT.OLDER);
  assert.equal(judgeGroupMessage({ ...roster, msgId: null }, { id: 9, from: 1 }, listed), VERDICT.ADMIN); // own, not stored yet
});

test('listed members absent from the applied roster are unconfirmed, myself aside', () => {
  assert.deepEqual(unconfirmedMembers({ members: [1, 2], admins: [1] }, listed, 1), [3]);
  assert.deepEqual(unconfirmedMembers(null, listed, 2), [1, 3]);
  assert.deepEqual(unconfirmedMembers({ members: [1, 2, 3], admins: [1] }, listed, 1), []);
});

test('a new listing names who joined, who is gone and who became admin', () => {
  const after = [{ id: 1, role: 'admin' }, { id: 3, role: 'admin' }, { id: 4, role: 'member' }];
  assert.deepEqual(listingChanges(listed, after), [
    { change: 'promoted', user: 3 }, { change: 'added', user: 4 }, { change: 'gone', user: 2 },
  ]);
});
