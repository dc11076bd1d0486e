"""The catalogues and the code agree: every sentence the code shows has a French translation,
every translation still has its sentence in the code, placeholders survive, and no visible text
in a template or an ES module bypasses the translation functions."""
import re
from html.parser import HTMLParser

import pytest

from sendapp.config import ROOT
from sendapp.i18n import LANGUAGES, SOURCE_LANGUAGE
from sendapp.i18n.catalogues import DOMAINS, browser_catalogue, read_catalogue
from sendapp.i18n.sources import extract

TRANSLATED = [language for language in LANGUAGES if language != SOURCE_LANGUAGE]
CASES = [(language, domain) for language in TRANSLATED for domain in DOMAINS]
PLACEHOLDER = {"js": re.compile(r"\{\w+\}"), "messages": re.compile(r"%\(\w+\)[sd]")}


def ids(catalogue):
    return {message.id if isinstance(message.id, str) else message.id[0]
            for message in catalogue if message.id}


@pytest.mark.parametrize("language, domain", CASES)
def test_every_sentence_in_the_code_has_a_translation_and_every_translation_a_sentence(language, domain):
    in_code = ids(extract(domain))
    in_catalogue = ids(read_catalogue(language, domain))
    assert in_code, f"no sentence found for {domain}: is the extraction broken?"
    assert sorted(in_code - in_catalogue) == [], f"run `make translations`, then translate ({language}/{domain}.po)"
    assert sorted(in_catalogue - in_code) == [], f"translations of sentences the code no longer has ({language}/{domain}.po)"


@pytest.mark.parametrize("language, domain", CASES)
def test_every_translation_is_complete_and_not_fuzzy(language, domain):
    catalogue = read_catalogue(language, domain)
    assert not catalogue.fuzzy, "the header is still marked fuzzy"
    unfinished = []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        if message.fuzzy or not all(strings):
            unfinished.append(message.id)
    assert unfinished == []


@pytest.mark.parametrize("language, domain", CASES)
def test_a_translation_keeps_the_placeholders_of_its_sentence(language, domain):
    pattern = PLACEHOLDER[domain]
    wrong = []
    for message in read_catalogue(language, domain):
        if not message.id:
            continue
        if message.pluralizable:
            wanted = set(pattern.findall(message.id[1]))
            for index, string in enumerate(message.string):
                found = set(pattern.findall(string))
                # A singular may say "un" instead of the count ("1 message" → "un message").
                allowed = [wanted, wanted - {"{count}", "%(num)d", "%(count)d"}] if index == 0 else [wanted]
                if found not in allowed:
                    wrong.append((message.id[0], index, string))
        elif set(pattern.findall(message.id)) != set(pattern.findall(message.string)):
            wrong.append((message.id, message.string))
    assert wrong == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_browser_gets_every_translated_sentence_and_plural_forms_by_category(language):
    served = browser_catalogue(language)
    assert set(served) == ids(read_catalogue(language, "js"))
    for forms in (value for value in served.values() if isinstance(value, dict)):
        assert {"one", "other"} <= set(forms)


# --- text that bypasses the translation functions --------------------------------------

UNTRANSLATABLE = {"SendApp", "English", "Français"}  # the brand, and language names in their own language
VISIBLE_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label", "aria-description"}
# base.html's blocks that fill attributes of <body>, not text.
ATTRIBUTE_BLOCKS = re.compile(r"\{%\s*block (?:page|body_attrs)\s*%\}.*?\{%\s*endblock\s*%\}", re.S)
JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.S)


class _VisibleText(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []
        self._hidden = 0  # inside <script> or <style>

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        named = dict(attrs)
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value:
                self.found.append(value)
        if tag == "meta" and named.get("name") == "description" and named.get("content"):
            self.found.append(named["content"])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.found.append(data)


@pytest.mark.parametrize("template", sorted((ROOT / "templates").glob("*.html")), ids=lambda p: p.name)
def test_templates_show_no_text_outside_the_translation_functions(template):
    parser = _VisibleText()
    parser.feed(JINJA.sub(" ", ATTRIBUTE_BLOCKS.sub(" ", template.read_text(encoding="utf-8"))))
    loose = [text.strip() for text in parser.found
             if re.search(r"[A-Za-z]{2}", text) and text.strip() not in UNTRANSLATABLE]
    assert loose == []


# A string literal put straight into something a person reads (not through t() or tn()).
JS_VISIBLE = re.compile(
    r"""(?:setText\([^,()]+,\s*|textContent\s*=\s*|innerText\s*=\s*|\.(?:title|placeholder|alt)\s*=\s*"""
    r"""|setAttribute\(\s*'(?:aria-label|title|placeholder|alt)'\s*,\s*|setAttr\([^,()]+,\s*'(?:aria-label|title|placeholder|alt)'\s*,\s*)"""
    r"""(['"`])(?P<text>[^'"`]*[A-Za-z]{2}[^'"`]*)\1""")


def test_es_modules_put_no_literal_english_on_screen():
    loose = []
    for path in sorted((ROOT / "static" / "js").rglob("*.js")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in JS_VISIBLE.finditer(line):
                if match.group("text") not in UNTRANSLATABLE:
                    loose.append(f"{path.relative_to(ROOT)}:{number}: {match.group('text')}")
    assert loose == []


# Babel's JavaScript extractor skips a call nested in another call's arguments: t(…, {x: t('…')}).
JS_CALL = re.compile(r"""\bt(?:n)?\(\s*'((?:[^'\\]|\\.)*)'""")


def test_every_translation_call_in_the_es_modules_is_extracted():
    extracted = ids(extract("js"))
    missed = []
    for path in sorted((ROOT / "static").rglob("*.js")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith(("//", "*", "/*")):
                continue  # an example in a comment
            for sentence in JS_CALL.findall(line):
                if sentence.replace("\\'", "'") not in extracted:
                    missed.append(f"{path.relative_to(ROOT)}:{number}: {sentence}")
    assert missed == [], "a t()/tn() the extractor cannot see (nested in another call?)"


@pytest.mark.parametrize("domain", DOMAINS)
def test_french_writes_one_apostrophe(domain):
    """’ everywhere: the two catalogues show side by side on one screen."""
    straight = []
    for message in read_catalogue("fr", domain):
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        straight += [string for string in strings if message.id and re.search(r"\w'\w", string)]
    assert straight == []
