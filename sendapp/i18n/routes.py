"""The ES modules' catalogue of one language, as JSON (the service worker keeps it offline)."""
from flask import Blueprint, abort, jsonify, request

from . import LANGUAGES
from .catalogues import browser_catalogue

bp = Blueprint("i18n", __name__)


@bp.get("/i18n/<language>.json")
def catalogue(language):
    if language not in LANGUAGES:
        abort(404)
    response = jsonify({"language": language, "messages": browser_catalogue(language)})
    response.headers["Cache-Control"] = "no-cache"  # revalidated: a new version's sentences show at once
    response.add_etag()
    return response.make_conditional(request)
