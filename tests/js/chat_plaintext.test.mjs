// The plaintexts a message may carry (PROTOCOL §5): static/js/chat/plaintext.js.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { readPlain } from '../../static/js/chat/plaintext.js';

test('readPlain accepts the two message types and flags anything else', () => {
  assert.equal(readPlain({ t: 'text', body: 'x', sent: 1 }).kind, 'text');
  assert.equal(readPlain({ t: 'file', name: 'a', mime: 'Image/PNG', size: 3, blob: 'b', key: 'k', n: 'n', sha256: 's' }).file.mime, 'image/png');
  assert.equal(readPlain({ t: 'video' }).kind, 'error');
  assert.equal(readPlain({ t: 'text', body: 5 }).kind, 'error');
});
