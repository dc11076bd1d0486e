// The one translation function of the ES modules (STYLE 17): whole sentences with named
// placeholders, looked up in the catalogue of the chosen language (English is the source
// language, so it has none), and plurals by the language's CLDR categories. The catalogues are
// sendapp/translations/<language>/LC_MESSAGES/js.po, served as JSON (static/js/language.js
// loads one). Pure: no DOM, no network.

let catalogue = new Map(); // source sentence → translation, or {one, many, other} for plurals
let language = 'en';
let pluralRules = new Intl.PluralRules('en');

/** Use a catalogue (a Map or object of source → translation) and its language's plural rules. */
export function useCatalogue(entries, locale = 'en') {
  catalogue = entries instanceof Map ? entries : new Map(Object.entries(entries || {}));
  language = locale;
  pluralRules = new Intl.PluralRules(locale);
}

/** The language the sentences are shown in: for Intl's dates, times and numbers too. */
export function currentLanguage() {
  return language;
}

/** Fill `{name}` placeholders; a missing value leaves the placeholder visible, never undefined. */
function fill(sentence, params) {
  return sentence.replace(/\{(\w+)\}/g, (whole, name) => (params && params[name] !== undefined ? String(params[name]) : whole));
}

/** Translate a whole sentence and fill its named placeholders: t('{name} left.', {name}). */
export function t(sentence, params = {}) {
  const found = catalogue.get(sentence);
  return fill(typeof found === 'string' ? found : sentence, params);
}

/** A sentence with a count: tn('{count} member', '{count} members', n, params). The catalogue
 * keys it by its singular, as gettext does. */
export function tn(one, other, count, params = {}) {
  const found = catalogue.get(one);
  const forms = found && typeof found === 'object' ? found : { one, other };
  const form = pluralRules.select(count);
  return fill(forms[form] || forms.other || other, { count, ...params });
}
