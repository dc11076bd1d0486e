// The one translation function (static/js/i18n.js, STYLE 17): whole sentences, named
// placeholders, plural forms from the catalogue.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { t, tn, useCatalogue } from '../../static/js/i18n.js';

test('a sentence without a translation is the source sentence with its placeholders filled', () => {
  assert.equal(t('{by} added {name}.', { by: 'alice', name: 'bob' }), 'alice added bob.');
  assert.equal(t('{name} left the group.'), '{name} left the group.'); // a missing value stays visible
});

test('a catalogue translates whole sentences and picks plural forms by count', () => {
  useCatalogue({ '{by} added {name}.': '{by} a ajouté {name}.', '{count} member': { one: '{count} membre', many: '{count} de membres', other: '{count} membres' } }, 'fr');
  try {
    assert.equal(t('{by} added {name}.', { by: 'alice', name: 'bob' }), 'alice a ajouté bob.');
    assert.equal(tn('{count} member', '{count} members', 1), '1 membre');
    assert.equal(tn('{count} member', '{count} members', 3), '3 membres');
  } finally {
    useCatalogue({}, 'en');
  }
  assert.equal(tn('{count} member', '{count} members', 1), '1 member');
  assert.equal(tn('{count} member', '{count} members', 2), '2 members');
});
