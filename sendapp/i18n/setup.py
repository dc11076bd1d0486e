"""Flask-Babel, fed from sendapp.i18n.catalogues instead of compiled `.mo` files."""
from flask_babel import Babel, Domain, get_locale

from .catalogues import server_translations
from .choice import choose_language, device_choice


class CatalogueDomain(Domain):
    """The `messages` domain, translated from the `.po` catalogue read at first use."""

    def get_translations(self):
        locale = get_locale()
        return server_translations(str(locale) if locale else "")


class CatalogueBabel(Babel):
    """Flask-Babel, with the domain above instead of one that loads `.mo` files."""

    @property
    def domain_instance(self):
        return _DOMAIN


_DOMAIN = CatalogueDomain()


def init_i18n(app):
    """Translate templates and server sentences into the request's language."""
    CatalogueBabel(app, locale_selector=choose_language)

    @app.context_processor
    def _language():
        return {"page_language": str(get_locale() or "en"), "language_choice": device_choice() or ""}
