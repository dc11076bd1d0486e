// The page's language (static/js/language.js): the catalogue of <html lang> is loaded before
// the UI writes a sentence, and the switch's choice is remembered per device in a cookie.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { currentLanguage, t, tn, useCatalogue } from '../../static/js/i18n.js';
import { deviceChoice, loadLanguage, setDeviceChoice } from '../../static/js/language.js';

const page = (lang, cookie = '') => ({ documentElement: { lang }, cookie });
const FRENCH = {
  'Log in': 'Se connecter',
  '{count} unread message': { one: '{count} message non lu', many: '{count} de messages non lus', other: '{count} messages non lus' },
};

function answering(body, status = 200) {
  const asked = [];
  const fetcher = async (url) => {
    asked.push(url);
    return { ok: status === 200, status, json: async () => body };
  };
  return { fetcher, asked };
}

test('a French page loads the French catalogue, with French plurals', async () => {
  const { fetcher, asked } = answering({ language: 'fr', messages: FRENCH });
  try {
    assert.equal(await loadLanguage(page('fr'), fetcher), 'fr');
    assert.deepEqual(asked, ['/i18n/fr.json']);
    assert.equal(currentLanguage(), 'fr');
    assert.equal(t('Log in'), 'Se connecter');
    assert.equal(tn('{count} unread message', '{count} unread messages', 0), '0 message non lu');
    assert.equal(tn('{count} unread message', '{count} unread messages', 1), '1 message non lu');
    assert.equal(tn('{count} unread message', '{count} unread messages', 3), '3 messages non lus');
  } finally {
    useCatalogue({}, 'en');
  }
});

test('an English page, an unknown language or an unreachable catalogue show English', async () => {
  const { fetcher, asked } = answering({}, 503);
  assert.equal(await loadLanguage(page('en'), fetcher), 'en');
  assert.equal(await loadLanguage(page('de'), fetcher), 'en');
  assert.deepEqual(asked, []); // English is the source: nothing to load
  await loadLanguage(page('fr'), fetcher);
  assert.deepEqual(asked, ['/i18n/fr.json']);
  assert.equal(currentLanguage(), 'en');
  assert.equal(t('Log in'), 'Log in');
  assert.equal(tn('{count} unread message', '{count} unread messages', 0), '0 unread messages');
});

test('the switch remembers a language per device, and "automatic" forgets it', () => {
  const doc = page('en');
  setDeviceChoice('fr', doc);
  assert.match(doc.cookie, /^sendapp_lang=fr; Path=\/; Max-Age=\d+; SameSite=Lax; Secure$/);
  assert.equal(deviceChoice(page('fr', 'other=1; sendapp_lang=fr')), 'fr');
  assert.equal(deviceChoice(page('fr', 'sendapp_lang=xx')), ''); // only a language we have
  setDeviceChoice('', doc);
  assert.match(doc.cookie, /^sendapp_lang=; Path=\/; Max-Age=0;/);
  assert.equal(deviceChoice(page('en', '')), '');
});
