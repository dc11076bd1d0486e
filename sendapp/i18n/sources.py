"""Where the sentences to translate are written, and how Babel pulls them out: the one
definition `flask translations` and tests/unit/test_translations.py both use."""
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir

from ..config import ROOT

SOURCES = {
    # The server: templates and the sentences it answers with (the CLI client is not UI).
    "messages": {
        "method_map": [("sendapp/client/**.py", "ignore"), ("sendapp/**.py", "python"),
                       ("templates/**.html", "jinja2")],
        "keywords": {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None,
                     "_l": None, "N_": None},
        "options_map": {"templates/**.html": {"trimmed": "true"}},
    },
    # The browser: static/js/i18n.js's t() and tn(), and the service worker's offline page.
    "js": {
        "method_map": [("static/js/**.js", "javascript"), ("static/sw.js", "javascript")],
        "keywords": {"t": None, "tn": (1, 2)},
        "options_map": {"static/js/**.js": {"parse_template_string": "true"}},
    },
}


def extract(domain):
    """A Babel catalogue (a `.pot` in memory) of every sentence the code of `domain` holds."""
    source = SOURCES[domain]
    template = Catalog(domain=domain, project="SendApp")
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), source["method_map"], source["options_map"], source["keywords"]):
        template.add(message, None, [(filename, lineno)], auto_comments=comments,
                     context=context)
    return template
