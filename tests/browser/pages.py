"""Page objects for the browser tests: every selector the tests use lives in this file.

A `Device` is one person's browser profile (a Playwright context with one page); its
`login`, `register` and `chat` page objects speak in what a person does and sees.
"""
import re
from pathlib import Path

from playwright.sync_api import expect

from browser.catalogue import say
from support.live_server import TEST_KDF_ITERATIONS

WAIT_MS = 15_000
CONNECT_MS = 30_000  # a reconnect after a server restart backs off up to 5 s between tries

# Outgoing messages are the ones with a delivery status.
OWN_MESSAGES = '[data-testid="message"][data-status]'
MESSAGE = '[data-testid="message"]'
MESSAGE_BODY = '[data-testid="message-body"]'

_FIND_OWN_NEW = """([selector, body, text, known]) => {
  for (const item of document.querySelectorAll(selector)) {
    const b = item.querySelector(body);
    if (b && b.textContent === text && !known.includes(item.dataset.cid)) return item.dataset.cid;
  }
  return null;
}"""
_FIND_NEW_FILE = """([selector, known]) => {
  for (const item of document.querySelectorAll(selector)) {
    if (item.dataset.kind === 'file' && !known.includes(item.dataset.cid)) return item.dataset.cid;
  }
  return null;
}"""
_FIND_ANY = """([selector, body, text]) => {
  for (const item of document.querySelectorAll(selector)) {
    const b = item.querySelector(body);
    if (b && b.textContent === text) return item.dataset.cid;
  }
  return null;
}"""


# Every string a person can see or hear on the page as it is now: visible text (each text node,
# and each element's whole text, so a sentence split by a link still reads whole), the page's
# title, and the names and hints written in attributes. Hidden elements and closed dialogs are
# left out; visually hidden screen-reader text is kept.
_SHOWN_TEXT = """() => {
  const found = new Set([document.title]);
  const add = (text) => { const t = (text || '').replace(/\\s+/g, ' ').trim(); if (t) found.add(t); };
  const shown = (el) => el.checkVisibility({ opacityProperty: true, visibilityProperty: true });
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (el && !['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName) && shown(el)) add(node.textContent);
  }
  for (const el of document.body.querySelectorAll('*')) {
    if (!shown(el)) continue;
    if (el.textContent.length < 400 && !el.querySelector('script, style')) add(el.innerText);
    for (const name of ['aria-label', 'title', 'placeholder', 'alt']) add(el.getAttribute(name));
    if (el.tagName === 'SELECT') for (const option of el.options) add(option.text);
  }
  return [...found];
}"""


# The test server derives with 1000 PBKDF2 iterations; the browser refuses fewer than 100,000
# unless a test lowers its floor (devices(..., kdf_floor=None) keeps the real floor).
TEST_KDF_FLOOR = TEST_KDF_ITERATIONS


def lower_kdf_floor(context, floor=TEST_KDF_FLOOR):
    """Set session.js's test-only knob in every page of `context`, before any page script."""
    context.add_init_script(f"globalThis.__sendappTestKdfFloor = {int(floor)};")


_IDB_COUNTS = """async () => {
  const known = (await indexedDB.databases()).some((d) => d.name === 'sendapp');
  if (!known) return null;  // never opened: opening it here would create it without its stores
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open('sendapp');
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const all = (name) => new Promise((resolve, reject) => {
    const r = db.transaction(name).objectStore(name).getAll();
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const found = {};
  for (const name of db.objectStoreNames) found[name] = (await all(name)).length;
  found.metaNames = (await all('meta')).map((row) => row.name);
  found.outboxStatus = (await all('outbox')).map((row) => row.status);
  db.close();
  return found;
}"""


class Device:
    """One person's browser profile: a fresh context, one page, and what the page reported."""

    def __init__(self, name, context, base_url):
        self.name = name
        self.context = context
        self.base_url = base_url
        self.page = context.new_page()
        self.console = []
        self.page_errors = []
        self.dialogs = []
        self.websockets = []
        self.polling_requests = []
        self._watch(self.page)
        self.login = LoginPage(self.page, base_url)
        self.register = RegisterPage(self.page, base_url)
        self.chat = ChatPage(self.page, base_url)

    def _watch(self, page):
        page.on("console", lambda m: self.console.append(f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("websocket", lambda ws: self.websockets.append(ws.url))
        page.on("request", self._note_request)
        page.on("dialog", self._dismiss_dialog)

    def _note_request(self, request):
        if "/socket.io/" in request.url and "transport=polling" in request.url:
            self.polling_requests.append(request.url)

    def _dismiss_dialog(self, dialog):
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def mark_page(self):
        """Leave a mark in the page's window: a reload or a navigation wipes it."""
        self.page.evaluate("window.__sendappMark = true")

    def still_marked(self):
        return self.page.evaluate("window.__sendappMark === true")

    def shown_text(self):
        """Every string the page shows or gives a screen reader now (text, labels, titles, hints)."""
        return self.page.evaluate(_SHOWN_TEXT)

    def stored(self):
        """What this profile's IndexedDB holds: rows per store, meta names, outbox statuses."""
        return self.page.evaluate(_IDB_COUNTS)

    def diagnostics(self):
        lines = [f"url: {self.page.url}" if not self.page.is_closed() else "page closed"]
        lines += [f"PAGEERROR: {e}" for e in self.page_errors]
        lines += [f"DIALOG: {d}" for d in self.dialogs]
        lines += self.console
        return "\n".join(lines)

    def screenshot(self, path):
        """What the person sees, once fonts are loaded, with animations and the caret stilled."""
        self.page.evaluate("document.fonts.ready.then(() => true)")
        self.page.screenshot(path=path, animations="disabled", caret="hide")
        return Path(path)

    def snapshot(self, path):
        """Screenshot the page for a failure report; answers the path or None."""
        try:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=path, timeout=5000)
            return path
        except Exception:  # noqa: BLE001 - a report helper must never raise
            return None

    def close(self):
        try:
            self.context.close()
        except Exception:  # noqa: BLE001 - already closed with the browser
            pass


class AccountDialog:
    """Your account: change password, My devices, export my history, delete my account."""

    def __init__(self, page):
        self.page = page
        self.root = page.get_by_test_id("account-dialog")
        self.devices = self.root.get_by_test_id("device")
        self.password_status = self.root.get_by_test_id("password-status")
        self.password_error = self.root.get_by_test_id("password-error")
        self.delete_error = self.root.get_by_test_id("delete-error")

    def open(self):
        self.page.get_by_test_id("account-button").click()
        expect(self.root).to_be_visible()
        return self

    def close(self):
        self.root.get_by_test_id("account-close").click()
        expect(self.root).to_be_hidden()

    def change_password(self, current, new):
        self.root.get_by_test_id("password-current").fill(current)
        self.root.get_by_test_id("password-new").fill(new)
        self.root.get_by_test_id("password-confirm").fill(new)
        self.root.get_by_test_id("password-submit").click()

    def device_names(self):
        return self.devices.get_by_test_id("device-name").all_text_contents()

    def current_device(self):
        return self.root.locator('[data-testid="device"][data-current="true"]')

    def other_devices(self):
        return self.root.locator('[data-testid="device"][data-current="false"]')

    def sign_out_everywhere_else(self):
        self.root.get_by_test_id("devices-end-others").click()

    def export(self, fmt):
        """Save the history as 'json' or 'text'; answers (suggested file name, text)."""
        with self.page.expect_download(timeout=WAIT_MS) as info:
            self.root.get_by_test_id(f"export-{fmt}").click()
        download = info.value
        return download.suggested_filename, Path(download.path()).read_text(encoding="utf-8")

    def delete_account(self, password, confirm=True):
        self.root.get_by_test_id("delete-password").fill(password)
        self.root.get_by_test_id("delete-submit").click()
        dialog = self.page.get_by_test_id("confirm-dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_test_id("confirm-ok" if confirm else "confirm-cancel").click()


class _AuthForm:
    PATH = ""

    def __init__(self, page, base_url):
        self.page = page
        self.base_url = base_url
        self.notice = page.get_by_test_id("auth-notice")
        self.form = page.get_by_test_id("auth-form")
        self.username = page.get_by_test_id("username-input")
        self.password = page.get_by_test_id("password-input")
        self.error = page.get_by_test_id("form-error")
        self.progress = page.get_by_test_id("auth-progress")

    def open(self, query=""):
        self.page.goto(f"{self.base_url}{self.PATH}{query}")
        expect(self.page.get_by_test_id("auth-form")).to_be_visible()
        return self

    def _finish(self):
        self.page.wait_for_url(f"{self.base_url}/", timeout=WAIT_MS)
        chat = ChatPage(self.page, self.base_url)
        chat.wait_connected()
        return chat


class LoginPage(_AuthForm):
    PATH = "/login"

    def submit(self, username, password):
        self.username.fill(username)
        self.password.fill(password)
        self.page.get_by_test_id("login-submit").click()

    def log_in(self, username, password):
        """Log in from the login page and wait until the chat is connected."""
        self.open()
        self.submit(username, password)
        return self._finish()


class RegisterPage(_AuthForm):
    PATH = "/register"

    def submit(self, username, password, confirm=None):
        self.username.fill(username)
        self.password.fill(password)
        self.page.get_by_test_id("confirm-input").fill(password if confirm is None else confirm)
        self.page.get_by_test_id("register-submit").click()

    def create_account(self, username, password):
        """Create an account and wait until the chat is connected."""
        self.open()
        self.submit(username, password)
        return self._finish()


class SafetyDialog:
    def __init__(self, page):
        self.page = page
        self.root = page.get_by_test_id("safety-dialog")
        self.digits = page.get_by_test_id("safety-number")
        self.qr = page.get_by_test_id("safety-qr")
        self.own_key = page.get_by_test_id("safety-own-key")

    def wait_ready(self):
        expect(self.root).to_be_visible()
        expect(self.digits).to_have_attribute("data-value", re.compile(r"\d"))
        expect(self.qr).to_be_visible()
        return self

    def number(self):
        """The 60 digits as shown: 12 groups of 5 separated by spaces."""
        return self.digits.get_attribute("data-value")

    def shown_groups(self):
        return [t.strip() for t in self.digits.locator(".safety-group").all_text_contents()]

    def qr_size(self):
        return self.qr.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")

    def close(self):
        self.page.get_by_test_id("safety-close").click()
        expect(self.root).to_be_hidden()


class GroupPanel:
    """The group panel (members, roles, unconfirmed marks, rename, add, remove, promote, leave)."""

    def __init__(self, page):
        self.page = page
        self.root = page.get_by_test_id("group-dialog")
        self.title = page.get_by_test_id("group-dialog-title")
        self.error = page.get_by_test_id("group-error")

    def member(self, username):
        return self.root.locator(f'[data-testid="group-member"][data-username="{username}"]')

    def usernames(self):
        return self.root.locator('[data-testid="group-member"]').evaluate_all("items => items.map((i) => i.dataset.username)")

    def rename(self, name):
        self.page.get_by_test_id("group-name-input").fill(name)
        self.page.get_by_test_id("group-rename-save").click()

    def add(self, username):
        self.page.get_by_test_id("group-add-select").select_option(label=username)
        self.page.get_by_test_id("group-add-button").click()
        expect(self.member(username)).to_have_count(1)

    def promote(self, username):
        self.member(username).get_by_test_id("member-promote").click()
        expect(self.member(username)).to_have_attribute("data-role", "admin")

    def remove(self, username):
        """Remove a member; the confirmation is answered yes."""
        self.member(username).get_by_test_id("member-remove").click()
        confirm = self.page.get_by_test_id("confirm-dialog")
        confirm.get_by_test_id("confirm-ok").click()
        expect(self.member(username)).to_have_count(0)

    def leave(self):
        """Leave the group; the confirmation is answered yes and the panel closes."""
        self.root.get_by_test_id("group-leave").click()
        confirm = self.page.get_by_test_id("confirm-dialog")
        confirm.get_by_test_id("confirm-ok").click()
        expect(self.root).to_be_hidden()

    def close(self):
        self.page.get_by_test_id("group-dialog-close").click()
        expect(self.root).to_be_hidden()


_IN_VIEW = """([selector, cid]) => {
  const el = document.querySelector(`${selector}[data-cid="${cid}"]`);
  const list = el && el.closest('[data-testid="message-list"]');
  if (!list) return false;
  const a = el.getBoundingClientRect(), b = list.getBoundingClientRect();
  return a.bottom > b.top && a.top < b.bottom;
}"""


class ChatPage:
    """The app shell: sidebar (search, requests, friends) and the open conversation.

    Names a person reads (a button's label…) are written in English and shown in the page's
    language (`say`), so the same page object drives the app in any language.
    """

    def __init__(self, page, base_url):
        self.page = page
        self.base_url = base_url
        self.connection = page.get_by_test_id("connection-state")
        self.search_input = page.get_by_test_id("search-input")
        self.search_results = page.get_by_test_id("search-results")
        self.friend_list = page.get_by_test_id("friend-list")
        self.title = page.get_by_test_id("conversation-title")
        self.peer_status = page.get_by_test_id("peer-status")
        self.key_warning = page.get_by_test_id("key-warning")
        self.typing_indicator = page.get_by_test_id("typing-indicator")
        self.composer = page.get_by_test_id("composer-input")
        self.message_list = page.get_by_test_id("message-list")
        self.history_status = page.get_by_test_id("history-status")
        self.friends_empty = page.get_by_test_id("friends-empty")
        self.banner = page.get_by_test_id("connection-banner")
        self.banner_spinner = page.get_by_test_id("connection-banner-spinner")
        self.banner_icon = page.get_by_test_id("connection-banner-icon")
        self.notifications_button = page.get_by_test_id("notifications-button")
        self.safety = SafetyDialog(page)
        self.group_panel = GroupPanel(page)
        self.account = AccountDialog(page)

    def say(self, sentence, **params):
        """`sentence` as this page shows it, in its language (<html lang>)."""
        return say(self.page.evaluate("document.documentElement.lang") or "en", sentence, **params)

    # --- navigation and connection ---
    def open(self, query=""):
        self.page.goto(f"{self.base_url}/{query}")
        self.wait_connected()
        return self

    def wait_connected(self, timeout=CONNECT_MS):
        expect(self.connection).to_have_attribute("data-state", "connected", timeout=timeout)

    def wait_kept_for_offline(self, timeout=CONNECT_MS):
        """Wait until the service worker has kept this chat page for offline starts."""
        expect(self.page.locator("body")).to_have_attribute("data-offline-ready", "true",
                                                            timeout=timeout)

    def wait_controlled(self, timeout=WAIT_MS):
        """Wait until the service worker controls this page (it claims the page once ready)."""
        self.page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=timeout)

    def expect_disconnected(self):
        expect(self.connection).not_to_have_attribute("data-state", "connected")

    def me(self):
        return self.page.get_by_test_id("me-username").text_content()

    def log_out(self):
        self.page.get_by_test_id("logout-button").click()
        self.page.wait_for_url(f"{self.base_url}/login", timeout=WAIT_MS)

    @property
    def signed_out(self):
        """The screen that replaces the app when the session ends."""
        return self.page.get_by_test_id("signed-out")

    @property
    def confirm_dialog(self):
        return self.page.get_by_test_id("confirm-dialog")

    def answer_confirm(self, yes):
        button = "confirm-ok" if yes else "confirm-cancel"
        self.confirm_dialog.get_by_test_id(button).click()
        expect(self.confirm_dialog).to_be_hidden()

    def reached_login(self):
        """Open the app; answers True when the server sent us to the login page instead."""
        self.page.goto(f"{self.base_url}/")
        self.page.wait_for_url(re.compile(r"/login|/$"), timeout=WAIT_MS)
        return "/login" in self.page.url

    # --- people ---
    def search_and_request(self, username):
        """Find a person by name and send a friend request; it then shows as sent."""
        self.search_input.fill(username)
        result = self.page.locator(f'[data-testid="search-result"][data-username="{username}"]')
        result.get_by_test_id("add-friend").click()
        expect(self.outgoing_request(username)).to_have_count(1)
        self.page.get_by_test_id("search-clear").click()
        expect(self.search_results).to_be_hidden()

    def incoming_request(self, username):
        return self.page.locator(f'[data-testid="incoming-request"][data-username="{username}"]')

    def outgoing_request(self, username):
        return self.page.locator(f'[data-testid="outgoing-request"][data-username="{username}"]')

    def accept_request(self, username):
        self.incoming_request(username).get_by_test_id("accept-request").click()
        expect(self.friend(username)).to_have_count(1)

    def friend(self, username):
        return self.page.locator(f'[data-testid="friend-item"][data-username="{username}"]')

    def presence_dot(self, username):
        return self.friend(username).get_by_test_id("presence-dot")

    def expect_online(self, username, online=True):
        value = "true" if online else "false"
        expect(self.friend(username)).to_have_attribute("data-online", value)
        expect(self.presence_dot(username)).to_have_attribute("data-online", value)

    def expect_friend_key_warning(self, username, shown=True):
        """The friend's row is marked: their security key changed and is not acknowledged."""
        marked = expect(self.friend(username)).to_have_class if shown else expect(self.friend(username)).not_to_have_class
        marked(re.compile(r"\bhas-warning\b"))

    def unread(self, username):
        return self.friend(username).get_by_test_id("unread-badge")

    def press(self, keys):
        """Press keys where the focus is (Enter, Shift+Enter, Escape…)."""
        self.page.keyboard.press(keys)

    def open_conversation(self, username):
        self.friend(username).get_by_role("button").click()
        expect(self.title).to_have_text(username)
        expect(self.composer).to_be_enabled()

    def is_open(self, username):
        """True when the conversation with `username` is what the pane shows."""
        return self.title.is_visible() and self.title.text_content() == username

    def back_to_list(self):
        self.page.get_by_test_id("back-button").click()
        expect(self.friend_list).to_be_visible()

    # --- writing ---
    def _own_cids(self):
        return self.page.locator(OWN_MESSAGES).evaluate_all("items => items.map((i) => i.dataset.cid)")

    def _new_own_cid(self, text, known):
        handle = self.page.wait_for_function(_FIND_OWN_NEW, arg=[OWN_MESSAGES, MESSAGE_BODY, text, known], timeout=WAIT_MS)
        return handle.json_value()

    def send_text(self, text):
        """Write and send with Enter; answers the new message's client id (data-cid)."""
        known = self._own_cids()
        self.composer.fill(text)
        self.composer.press("Enter")
        return self._new_own_cid(text, known)

    def type_and_send(self, text, delay_ms=15):
        """Type key by key (typing notices go out), then send with Enter; answers the cid."""
        known = self._own_cids()
        self.composer.press_sequentially(text, delay=delay_ms)
        self.composer.press("Enter")
        return self._new_own_cid(text, known)

    def type_text(self, text, delay_ms=30):
        """Type without sending."""
        self.composer.press_sequentially(text, delay=delay_ms)

    def clear_composer(self):
        self.composer.fill("")

    def attach_file(self, name, mime, data):
        """Pick a file in the composer's file input (as the attach button would); answers its cid."""
        known = self._own_cids()
        self.page.get_by_test_id("file-input").set_input_files({"name": name, "mimeType": mime, "buffer": data})
        handle = self.page.wait_for_function(_FIND_NEW_FILE, arg=[OWN_MESSAGES, known], timeout=WAIT_MS)
        return handle.json_value()

    # --- reading ---
    def messages(self):
        return self.page.locator(MESSAGE)

    def message(self, cid):
        return self.page.locator(f'{MESSAGE}[data-cid="{cid}"]')

    def message_body(self, cid):
        return self.message(cid).locator(MESSAGE_BODY)

    def texts(self):
        """The text of every text message shown, oldest first."""
        return self.page.locator(MESSAGE_BODY).evaluate_all("items => items.map((i) => i.textContent)")

    def cids(self):
        return self.messages().evaluate_all("items => items.map((i) => i.dataset.cid)")

    def wait_for_message(self, text, timeout=WAIT_MS):
        """Wait until a text message with exactly this text shows; answers its cid."""
        handle = self.page.wait_for_function(_FIND_ANY, arg=[MESSAGE, MESSAGE_BODY, text], timeout=timeout)
        return handle.json_value()

    def status(self, cid):
        return self.message(cid).get_attribute("data-status")

    def expect_status(self, cid, status, timeout=WAIT_MS):
        """`status` is one name or a regular expression such as SENT_OR_LATER."""
        expect(self.message(cid)).to_have_attribute("data-status", status, timeout=timeout)

    def is_right_to_left(self, cid):
        """True when the message text is laid out right to left (its dir="auto" resolved to rtl)."""
        return self.message_body(cid).evaluate("el => el.matches(':dir(rtl)')")

    def undecryptable(self, cid=None):
        """'Could not decrypt' items and notices (the one item or notice holding `cid` when given)."""
        if cid is None:
            return self.message_list.locator('[data-testid="message-undecryptable"], [data-testid="undecryptable-notice"]')
        return self.message_list.locator(f'{MESSAGE}[data-cid="{cid}"] [data-testid="message-undecryptable"], '
                                         f'[data-testid="undecryptable-notice"][data-cids~="{cid}"]')

    def sealed_notices(self):
        """The notices that stand for a run of messages sealed for a key this account lost."""
        return self.message_list.get_by_test_id("undecryptable-notice")

    def more_toggle(self, cid):
        """The "Show more" / "Show less" button of a long message."""
        return self.message(cid).get_by_test_id("message-more")

    def markup_in_messages(self):
        """Elements a message text could have smuggled in: scripts, and images outside attachments."""
        return self.message_list.evaluate("""list => {
          const found = [...list.querySelectorAll('script, iframe, object, embed')].map((e) => e.tagName);
          for (const img of list.querySelectorAll('img')) {
            if (!img.closest('[data-testid="attachment-image"]')) found.push(`IMG src=${img.getAttribute('src')}`);
          }
          for (const body of list.querySelectorAll('[data-testid="message-body"]')) {
            if (body.children.length) found.push(`children in a message body: ${body.innerHTML.slice(0, 80)}`);
          }
          return found;
        }""")

    def images_with_src(self, src):
        return self.page.evaluate("src => [...document.images].filter((i) => i.getAttribute('src') === src).length", src)

    # --- scrolling through history ---
    def scroll_to_top(self):
        """Scroll the message list to its top, as a thumb flick would (loads older pages)."""
        self.page.get_by_test_id("message-list").evaluate(
            "list => { list.scrollTop = 0; list.dispatchEvent(new Event('scroll')); }")

    def history_state(self):
        """'loading', 'more' (older pages exist) or 'start' (the whole history is shown)."""
        return self.history_status.get_attribute("data-state")

    @property
    def jump_to_latest(self):
        return self.page.get_by_test_id("jump-to-latest")

    def day_separators(self):
        return self.page.get_by_test_id("day-separator")

    def is_in_view(self, cid):
        """True when the message is inside the visible part of the message list."""
        return self.page.evaluate(_IN_VIEW, [MESSAGE, cid])

    def wait_in_view(self, cid, timeout=WAIT_MS):
        """Wait until the message has scrolled into the visible part of the list."""
        self.page.wait_for_function(_IN_VIEW, arg=[MESSAGE, cid], timeout=timeout)

    # --- attachments ---
    def image(self, cid):
        return self.message(cid).get_by_test_id("attachment-image")

    def expect_image_ready(self, cid):
        """The image preview is decrypted and painted; answers (naturalWidth, naturalHeight)."""
        figure = self.image(cid)
        expect(figure).to_have_attribute("data-state", "ready")
        return tuple(figure.locator("img").evaluate("img => [img.naturalWidth, img.naturalHeight]"))

    def file_attachment(self, cid):
        return self.message(cid).get_by_test_id("attachment-file")

    def download(self, cid):
        """Download a file attachment the way a person would; answers (suggested name, bytes)."""
        with self.page.expect_download(timeout=WAIT_MS) as info:
            self.file_attachment(cid).get_by_test_id("attachment-download").click()
        download = info.value
        return download.suggested_filename, Path(download.path()).read_bytes()

    # --- attachment transfers (ui/progress.js) ---
    def upload_box(self, cid):
        """An own attachment not yet sent: its phase, progress bar and cancel button."""
        return self.message(cid).get_by_test_id("attachment-uploading")

    def upload_progress(self, cid):
        return self.message(cid).get_by_role("progressbar")

    def upload_label(self, cid):
        return self.message(cid).get_by_test_id("attachment-progress-label")

    def cancel_upload(self, cid, name):
        """Cancel by the button's accessible name, as a screen reader user would find it."""
        self.message(cid).get_by_role("button", name=self.say("Cancel sending {name}", name=name)).click()

    # --- settings ---
    def set_hide_notification_text(self, on):
        """Open the notification settings, set "hide message text", close them."""
        self.page.get_by_role("button", name=self.say("Notification settings")).click()
        dialog = self.page.get_by_test_id("notification-settings-dialog")
        expect(dialog).to_be_visible()
        box = dialog.get_by_role("checkbox", name=self.say("Hide message text in notifications"))
        box.set_checked(on)
        dialog.get_by_test_id("notification-settings-close").click()
        expect(dialog).to_be_hidden()

    def hides_notification_text(self):
        self.page.get_by_role("button", name=self.say("Notification settings")).click()
        dialog = self.page.get_by_test_id("notification-settings-dialog")
        checked = dialog.get_by_role("checkbox", name=self.say("Hide message text in notifications")).is_checked()
        dialog.get_by_test_id("notification-settings-close").click()
        expect(dialog).to_be_hidden()
        return checked

    # --- notices ---
    def dismiss_toasts(self):
        """Close every notice ("Friend request sent…") so it does not cover the view."""
        toasts = self.page.get_by_test_id("toast")
        while toasts.count():
            toasts.first.get_by_role("button", name=self.say("Dismiss")).click()
        expect(toasts).to_have_count(0)

    # --- groups (PROTOCOL §9) ---
    def group(self, title):
        """A group's row in the list, by the title it shows (its name, or its members' names)."""
        return self.page.locator(f'[data-testid="group-item"][data-title="{title}"]')

    def group_unread(self, title):
        return self.group(title).get_by_test_id("unread-badge")

    def create_group(self, name, members):
        """Create a group with friends and a name; the new group opens."""
        self.page.get_by_test_id("new-group-button").click()
        dialog = self.page.get_by_test_id("new-group-dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_test_id("new-group-name").fill(name)
        for username in members:
            dialog.locator(f'[data-testid="new-group-friend"][data-username="{username}"] input').check()
        dialog.get_by_test_id("new-group-create").click()
        expect(dialog).to_be_hidden()
        expect(self.title).to_have_text(name)

    def open_group(self, title):
        self.group(title).get_by_role("button").click()
        expect(self.title).to_have_text(title)
        expect(self.composer).to_be_enabled()

    def open_group_panel(self):
        self.page.get_by_test_id("group-info-button").click()
        expect(self.group_panel.root).to_be_visible()
        return self.group_panel

    def system_lines(self):
        """The text of every membership line shown in the open conversation, oldest first."""
        return self.page.get_by_test_id("system-line").all_text_contents()

    def wait_for_system_line(self, text):
        expect(self.page.get_by_test_id("system-line").filter(has_text=text)).not_to_have_count(0)

    def sender_of(self, cid):
        return self.message(cid).get_by_test_id("message-sender")

    def readers_of(self, cid):
        return self.message(cid).get_by_test_id("message-readers")

    # --- verification and keys ---
    def open_safety_number(self):
        self.page.get_by_test_id("safety-button").click()
        return self.safety.wait_ready()

    def acknowledge_key_change(self, password):
        """Accept the friend's new key: the dialog asks for the password (the vault keeps it)."""
        self.page.get_by_test_id("key-warning-ack").click()
        dialog = self.page.get_by_test_id("accept-key-dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_test_id("accept-key-password").fill(password)
        dialog.get_by_test_id("accept-key-ok").click()
        expect(dialog).to_be_hidden()
        expect(self.key_warning).to_be_hidden()

    def unverified_mark(self, cid):
        """The "from an unverified key" mark of one message."""
        return self.message(cid).get_by_test_id("message-unverified")

    def write_and_press_enter(self, text):
        """Write and press Enter without waiting for the message (a dialog may ask first)."""
        self.composer.fill(text)
        self.composer.press("Enter")


SENT_OR_LATER = re.compile(r"^(sent|delivered|read)$")
