"""French and English. English is the source language: every sentence is written in English in
the code, and `sendapp/translations/<language>/LC_MESSAGES/` holds one gettext catalogue per
domain, the only place a translation lives: `messages` (templates and the server's own
sentences, through Flask-Babel) and `js` (the ES modules and the service worker, served to
the browser as JSON). tests/unit/test_translations.py keeps code and catalogues in step."""

LANGUAGES = ("en", "fr")
SOURCE_LANGUAGE = "en"


def N_(sentence):
    """Mark a sentence for translation without translating it (translated where it is shown)."""
    return sentence
