"""Pages: the shell, the polling switch, the service worker and the vendor allow-list."""
from pathlib import Path

from support.people import https_client


def test_home_redirects_anonymous_to_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_pages_send_strict_csp_and_csrf_meta(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert '<meta name="csrf-token"' in response.get_data(as_text=True)
    assert "<script>" not in response.get_data(as_text=True)  # module files only


def test_force_polling_switch_reaches_the_page(make_app):
    page = lambda app: https_client(app).get("/login").get_data(as_text=True)  # noqa: E731
    assert 'data-force-polling="false"' in page(make_app())
    assert 'data-force-polling="true"' in page(make_app(FORCE_POLLING=True))


def test_service_worker_is_served_for_the_whole_scope(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["Service-Worker-Allowed"] == "/"


def test_vendor_serves_installed_socketio_client_only(client):
    assert client.get("/vendor/socket.io/socket.io.esm.min.js").status_code == 200
    assert client.get("/vendor/qrcode/qrcode.mjs").status_code == 200
    assert client.get("/vendor/other/x.js").status_code == 404
    assert client.get("/vendor/socket.io/../../package.json").status_code == 404


def test_service_worker_keeps_every_module_the_app_imports():
    """An installed app opens offline only if the shell list names every ES module."""
    root = Path(__file__).resolve().parents[2]
    shell = (root / "static" / "sw.js").read_text()
    modules = sorted(p.relative_to(root).as_posix() for p in (root / "static" / "js").rglob("*.js"))
    assert modules and [m for m in modules if f"'/{m}'" not in shell] == []
