"""The offline worker controls the chat page after the first sign-in, whatever the timing.

A fresh profile registers the worker on the register (or login) page, and the install
precaches the shell while the person signs in; on a busy machine the worker can activate
while the navigation to the chat page is still in flight. activate's `clients.claim()` skips
such a page (it is not a client yet), so it stayed uncontrolled until a reload (a browser
test waiting for the controller failed on CI that way). The page now asks the worker to
claim it once the worker is ready (static/js/main.js, static/sw.js).
"""
import re
import time

PASSWORD = "service worker passphrase 5"
CHAT_PAGE = re.compile(r"^https://[^/]+/$")
# Precached by the install, never fetched by an English page: holding it holds the install.
SHELL_FILE_ONLY_THE_INSTALL_FETCHES = "**/i18n/fr.json"
HOLD_MS = 15_000


def test_the_chat_page_is_controlled_though_the_worker_activated_while_it_loaded(devices):
    carol = devices("carol")
    page = carol.page
    workers = carol.context.new_cdp_session(page)
    activated, navigating = [], []
    workers.on("ServiceWorker.workerVersionUpdated", lambda event: activated.extend(
        v for v in event["versions"] if v["status"] == "activated"))
    workers.send("ServiceWorker.enable")

    def hold(until, what):
        """Keep a request waiting, while Playwright's events keep flowing, until `until()`."""
        deadline = time.monotonic() + HOLD_MS / 1000
        while not until():
            assert time.monotonic() < deadline, f"not within {HOLD_MS} ms: {what}"
            page.wait_for_timeout(50)

    def hold_install(route):  # the install ends only once the chat page is being fetched
        hold(lambda: navigating, "the navigation to the chat page starts")
        route.continue_()

    def hold_chat_page(route):  # and the chat page arrives only after activate's claim
        navigating.append(route.request.url)
        hold(lambda: activated, "the worker activates")
        route.continue_()

    # The worker's requests reach only the context's routes. The navigation is held by a page
    # route: held by a context route, it went on before the hold ended.
    carol.context.route(SHELL_FILE_ONLY_THE_INSTALL_FETCHES, hold_install, times=1)
    page.route(CHAT_PAGE, hold_chat_page, times=1)
    carol.register.create_account("carol", PASSWORD)
    assert navigating and activated, "the race under test did not happen"

    carol.chat.wait_controlled()


OFFLINE_NOTICE = "You are offline and this page has not been kept for offline use."


def test_offline_a_page_never_kept_gets_the_workers_notice_in_the_devices_language(devices):
    """The worker answers a page it never kept with its own notice: in French for a browser set
    to French, from the catalogue it precached, with <html lang="fr">."""
    from browser.catalogue import say

    denise = devices("denise", locale="fr-FR")
    page = denise.page
    page.goto(denise.base_url + "/login")
    denise.chat.wait_controlled()
    page.wait_for_function("""() => caches.keys().then((names) => Promise.all(names.map((name) =>
        caches.open(name).then((cache) => cache.match('/i18n/fr.json'))))).then((found) => found.some(Boolean))""")
    denise.context.set_offline(True)
    try:
        response = page.goto(denise.base_url + "/register")
        assert response is not None and response.status == 503 and response.from_service_worker
        assert page.locator("html").get_attribute("lang") == "fr"
        notice = say("fr", OFFLINE_NOTICE)
        assert notice != OFFLINE_NOTICE
        assert page.locator("p").inner_text() == notice
    finally:
        denise.context.set_offline(False)
