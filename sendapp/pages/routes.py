"""Pages: the chat shell, login and register; vendor files from node_modules."""
import json
from functools import lru_cache
from pathlib import Path

from flask import (Blueprint, abort, current_app, make_response, redirect, render_template,
                   send_from_directory, url_for)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from ..config import ROOT

bp = Blueprint("pages", __name__)

# Front-end packages installed by npm (never committed), served by a fixed allow-list.
VENDOR = {
    "socket.io": ROOT / "node_modules" / "socket.io-client" / "dist",
    "qrcode": ROOT / "node_modules" / "qrcode-generator" / "dist",
}


def _page(template, **context):
    """A page in the request's language: caches keep one copy per language and switch."""
    response = make_response(render_template(
        template,
        force_polling=current_app.config["FORCE_POLLING"],
        **context,
    ))
    response.vary.update(("Accept-Language", "Cookie"))
    return response


@bp.get("/")
def home():
    """The chat application (log in first)."""
    if not current_user.is_authenticated:
        return redirect(url_for("pages.login"))
    response = _page("chat.html", user=current_user)
    # It names the user: no HTTP cache keeps it (the service worker's offline copy is deleted
    # when the session ends).
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/login")
def login():
    """Log in: the password is turned into `auth` in the browser."""
    return _page("login.html")


@bp.get("/register")
def register():
    """Create an account: keys and vault are made in the browser."""
    return _page("register.html")


@bp.get("/sw.js")
def service_worker():
    """The service worker, served from the root so its scope covers the whole app."""
    response = send_from_directory(current_app.static_folder, "sw.js", max_age=0)
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    return response


@lru_cache(maxsize=4)
def _manifest_source(static_folder):
    """The English manifest, read once per process (it changes only with a new version)."""
    return json.loads(Path(static_folder, "manifest.webmanifest").read_text(encoding="utf-8"))


@bp.get("/manifest.webmanifest")
def manifest():
    """The web app manifest (install to a phone's home screen), its description and `lang` in
    the request's language (the static file is the English source)."""
    fields = dict(_manifest_source(current_app.static_folder))
    fields["lang"] = str(get_locale() or "en")
    fields["description"] = _("End-to-end encrypted chat on your own server.")
    response = current_app.response_class(json.dumps(fields, ensure_ascii=False),
                                          mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


@bp.get("/vendor/<package>/<path:filename>")
def vendor(package, filename):
    """Files of npm-installed packages (socket.io-client, qrcode-generator)."""
    folder = VENDOR.get(package)
    if folder is None:
        abort(404)
    return send_from_directory(folder, filename, max_age=3600)
