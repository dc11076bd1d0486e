// The page's language: the server chose it (the device's switch, a cookie, else the browser's
// languages) and wrote it in <html lang>, so server-rendered text and the ES modules always
// agree; this loads that language's catalogue and lets the switch change it for this device.

import { useCatalogue } from './i18n.js';

export const LANGUAGES = ['en', 'fr'];
export const COOKIE = 'sendapp_lang';
const YEAR_S = 365 * 24 * 3600;

/** Load the catalogue of the page's language. English (the source) needs none; offline, the
 * service worker's copy answers; without any, the sentences stay in English. */
export async function loadLanguage(doc = document, fetcher = fetch) {
  const language = LANGUAGES.includes(doc.documentElement.lang) ? doc.documentElement.lang : 'en';
  let entries = {};
  if (language !== 'en') {
    try {
      const response = await fetcher(`/i18n/${language}.json`, { credentials: 'same-origin' });
      if (!response.ok) throw new Error(`catalogue ${response.status}`);
      entries = (await response.json()).messages;
    } catch {
      useCatalogue({}, 'en');
      return 'en';
    }
  }
  useCatalogue(entries, language);
  return language;
}

/** This device's choice in the switch: '' follows the browser. */
export function deviceChoice(doc = document) {
  const found = doc.cookie.split('; ').find((pair) => pair.startsWith(`${COOKIE}=`));
  const value = found ? found.slice(COOKIE.length + 1) : '';
  return LANGUAGES.includes(value) ? value : '';
}

/** Remember `choice` ('' = follow the browser) on this device, for every page of the app. */
export function setDeviceChoice(choice, doc = document) {
  doc.cookie = LANGUAGES.includes(choice)
    ? `${COOKIE}=${choice}; Path=/; Max-Age=${YEAR_S}; SameSite=Lax; Secure`
    : `${COOKIE}=; Path=/; Max-Age=0; SameSite=Lax; Secure`;
}

/** Wire every language switch (<select data-language-switch>) of the page: choose, reload. */
export function bindLanguageSwitches(doc = document, reload = () => location.reload()) {
  for (const select of doc.querySelectorAll('select[data-language-switch]')) {
    select.value = deviceChoice(doc);
    select.addEventListener('change', () => {
      setDeviceChoice(select.value, doc);
      reload();
    });
  }
}
