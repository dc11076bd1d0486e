"""The catalogues, read from the `.po` files once per process: no compiled `.mo` file to
rebuild or forget, so a catalogue cannot drift from what is served."""
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from . import LANGUAGES, SOURCE_LANGUAGE

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DOMAINS = ("messages", "js")


def catalogue_path(language, domain):
    return TRANSLATIONS / language / "LC_MESSAGES" / f"{domain}.po"


@lru_cache(maxsize=None)
def read_catalogue(language, domain):
    """The Babel catalogue of one language and domain (the source language has none)."""
    with catalogue_path(language, domain).open("rb") as po:
        return read_po(po, locale=language, domain=domain)


@lru_cache(maxsize=None)
def server_translations(language):
    """Gettext translations for templates and server sentences; English passes through."""
    if language == SOURCE_LANGUAGE or language not in LANGUAGES:
        return NullTranslations()
    compiled = BytesIO()
    write_mo(compiled, read_catalogue(language, "messages"), use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain="messages")


@lru_cache(maxsize=None)
def browser_catalogue(language):
    """The `js` catalogue as static/js/i18n.js reads it: source sentence → translation, or for
    a sentence with a count (keyed by its singular, as gettext does) its forms by the CLDR
    category Intl.PluralRules names (French: one, many, other)."""
    if language == SOURCE_LANGUAGE:
        return {}
    categories = plural_categories(language)
    entries = {}
    for message in read_catalogue(language, "js"):
        if not message.id or message.fuzzy:
            continue
        if message.pluralizable:
            if all(message.string):
                entries[message.id[0]] = dict(zip(categories, message.string))
        elif message.string:
            entries[message.id] = message.string
    return entries


def plural_categories(language):
    """The CLDR plural categories of `language` in the order of its gettext plural forms."""
    order = ("zero", "one", "two", "few", "many", "other")
    return sorted(Locale.parse(language).plural_form.tags | {"other"}, key=order.index)
