"""What a page should say in a language, read from the catalogues the app itself is served from
(sendapp/translations/<language>/LC_MESSAGES/*.po), so a browser test names buttons and fields
in the language under test and fails when a sentence has no translation.

English is the source language: `say("en", sentence)` is the sentence itself, which keeps the
page objects' English names working unchanged.
"""
import re
from functools import lru_cache

from babel import Locale

from sendapp.i18n import SOURCE_LANGUAGE
from sendapp.i18n.catalogues import DOMAINS, plural_categories, read_catalogue

# {name} in the ES modules' sentences, %(name)s in the server's (Flask-Babel).
_PLACEHOLDER = re.compile(r"\{(\w+)\}|%\((\w+)\)s")


def _fill(sentence, params):
    def value(match):
        name = match.group(1) or match.group(2)
        assert name in params, f"no value for the placeholder {name!r} of {sentence!r}"
        return str(params[name])

    return _PLACEHOLDER.sub(value, sentence)


def _messages(language):
    for domain in DOMAINS:
        for message in read_catalogue(language, domain):
            if message.id:
                yield message


@lru_cache(maxsize=None)
def _entries(language):
    """source (a string, or the singular for a sentence with a count) → translation(s), as
    served: a fuzzy entry is not."""
    found = {}
    for message in _messages(language):
        if not message.fuzzy:
            found.setdefault(message.id[0] if message.pluralizable else message.id, message.string)
    return found


def say(language, sentence, **params):
    """`sentence` as the page shows it in `language`, placeholders filled.

    Fails (AssertionError) when the catalogue lacks the sentence or leaves it untranslated.
    """
    if language == SOURCE_LANGUAGE:
        return _fill(sentence, params)
    translation = _entries(language).get(sentence)
    assert translation is not None, f"{language}: {sentence!r} is not in the catalogues (is it wrapped in t()/_()?)"
    assert isinstance(translation, str), f"{language}: {sentence!r} is a sentence with a count: use say_count"
    assert translation, f"{language}: {sentence!r} has no translation"
    return _fill(translation, params)


def say_count(language, one, other, count, **params):
    """A sentence with a count, in the form `language` uses for `count` (CLDR, as Intl.PluralRules)."""
    params = {"count": count, **params}
    if language == SOURCE_LANGUAGE:
        return _fill(one if count == 1 else other, params)
    forms = _entries(language).get(one)
    assert forms is not None, f"{language}: {one!r} / {other!r} is not in the catalogues"
    assert isinstance(forms, tuple), f"{language}: {one!r} has no plural forms"
    assert all(forms), f"{language}: {one!r} lacks some of its plural forms: {forms!r}"
    category = Locale.parse(language).plural_form(count)
    return _fill(forms[plural_categories(language).index(category)], params)


def _normal(text):
    return " ".join(text.split())


@lru_cache(maxsize=None)
def untranslated_if_seen(language):
    """The English sentences that do not show as such in `language`: seeing one means a leftover
    (shown where the code does not translate it, or untranslated or fuzzy in its catalogue).

    Sentences with placeholders are left out (they never show as written), and so is any
    English sentence that is also its own or some other sentence's translation.
    """
    translations = set()
    for string in _entries(language).values():
        translations.update(_normal(s) for s in ((string,) if isinstance(string, str) else string) if s)
    english = set()
    for message in _messages(language):
        if message.pluralizable or _PLACEHOLDER.search(message.id):
            continue
        source = _normal(message.id)
        if source not in translations:
            english.add(source)
    return frozenset(english)


def english_leftovers(language, shown):
    """Which of the strings `shown` are English sentences left untranslated in `language`."""
    leftovers = untranslated_if_seen(language)
    return sorted({_normal(text) for text in shown} & leftovers)


# Common English words that are not French words: a string holding one reads as English even
# when its sentence never reached the catalogues (a string not wrapped in t()/_()).
ENGLISH_WORDS = frozenset("""
    the your you and with this that is are was were has have not of to for from by it will can
    could yet here there new send online offline unread today yesterday password username
    account friend friends request requests search people key safety number connected connecting
    log sign please show hide open settings typing waiting
""".split())


def looks_english(text):
    """True when `text` holds a common English word (see ENGLISH_WORDS)."""
    return any(word in ENGLISH_WORDS for word in re.findall(r"[^\W\d_]+", text.lower()))
