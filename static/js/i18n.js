// The one translation function of the ES modules (STYLE 17): whole sentences with named
// placeholders, looked up in a catalogue (none yet: English is the source language), and
// plurals through the catalogue's plural forms. Pure: no DOM, no network.

let catalogue = new Map(); // source sentence → translated sentence, or {one, other} for plurals
let pluralRules = new Intl.PluralRules('en');

/** Use a catalogue (a Map or object of source → translation) and its locale's plural rules. */
export function useCatalogue(entries, locale = 'en') {
  catalogue = entries instanceof Map ? entries : new Map(Object.entries(entries || {}));
  pluralRules = new Intl.PluralRules(locale);
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

/** A sentence with a count: tn('{count} member', '{count} members', n, params). */
export function tn(one, other, count, params = {}) {
  const found = catalogue.get(other);
  const form = pluralRules.select(count);
  const forms = found && typeof found === 'object' ? found : { one, other };
  return fill(forms[form] || forms.other || other, { count, ...params });
}
