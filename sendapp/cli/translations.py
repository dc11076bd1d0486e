"""`flask translations`: bring every language's catalogues in step with the code (new sentences
appear untranslated, removed ones go), so a translator only ever edits `.po` files."""
import click
from babel.messages.pofile import write_po

from ..config import ROOT
from ..i18n import LANGUAGES, SOURCE_LANGUAGE
from ..i18n.catalogues import DOMAINS, catalogue_path, read_catalogue
from ..i18n.sources import extract


@click.command("translations")
def update_translations():
    """Update sendapp/translations/*/LC_MESSAGES/*.po from the sentences in the code."""
    for domain in DOMAINS:
        template = extract(domain)
        for language in LANGUAGES:
            if language == SOURCE_LANGUAGE:
                continue
            path = catalogue_path(language, domain)
            catalogue = read_catalogue(language, domain)
            created = catalogue.creation_date
            catalogue.update(template, no_fuzzy_matching=True)
            catalogue.creation_date = created  # the file changes only when a sentence does
            with path.open("wb") as po:
                write_po(po, catalogue, ignore_obsolete=True, width=100, include_lineno=False)
            untranslated = sum(1 for m in catalogue if m.id and not _translated(m))
            click.echo(f"{path.relative_to(ROOT)}: {len(template)} sentences, "
                       f"{untranslated} to translate")
    read_catalogue.cache_clear()


def _translated(message):
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return all(strings) and not message.fuzzy
