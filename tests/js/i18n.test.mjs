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

test('no module translates while it is evaluated: the catalogue loads after the imports', async () => {
  // A catalogue that refuses every lookup: a t() or tn() at a module's top level would throw.
  class Refusing extends Map {
    get(sentence) {
      throw new Error(`translated while the module was evaluated: ${sentence}`);
    }
  }
  const root = new URL('../../static/js/', import.meta.url);
  const { readdirSync } = await import('node:fs');
  const files = readdirSync(root, { recursive: true }).filter((name) => name.endsWith('.js') && name !== 'main.js');
  useCatalogue(new Refusing(), 'fr');
  try {
    for (const name of files) await import(new URL(name, root));
  } finally {
    useCatalogue({}, 'en');
  }
  assert.ok(files.length > 30);
});

test('sentences and dates follow a catalogue chosen after the modules were evaluated', async () => {
  const { stepLabel } = await import('../../static/js/session.js');
  const { dayLabel, formatSize } = await import('../../static/js/timeline.js');
  useCatalogue({ 'Signing in…': 'Ouverture de la session…', Today: 'Aujourd’hui', '{value} KB': '{value} Ko' }, 'fr');
  try {
    assert.equal(stepLabel('login'), 'Ouverture de la session…');
    assert.equal(dayLabel(Date.now()), 'Aujourd’hui');
    assert.equal(formatSize(1500), '1,5 Ko');
    assert.equal(dayLabel(Date.UTC(2020, 0, 15, 12), Date.UTC(2026, 0, 15, 12)), '15 janvier 2020');
  } finally {
    useCatalogue({}, 'en');
  }
  assert.equal(stepLabel('login'), 'Signing in…');
  assert.equal(formatSize(1500), '1.5 KB');
});
