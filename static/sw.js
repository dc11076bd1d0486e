// SendApp service worker: keeps the app shell so the installed app opens offline, with the
// outbox (in IndexedDB) intact. It never caches API answers, sockets or attachments.
// Served at /sw.js (scope /). Bump VERSION when the list of shell files changes.

const VERSION = 'v8';
const SHELL = `sendapp-shell-${VERSION}`;
const PAGES = 'sendapp-pages'; // the chat page (names the user; deleted at logout)

const SHELL_FILES = [
  '/static/css/app.css',
  '/static/js/main.js',
  '/static/js/api.js',
  '/static/js/chat/client.js',
  '/static/js/chat/conversations.js',
  '/static/js/chat/export.js',
  '/static/js/chat/files.js',
  '/static/js/chat/friends.js',
  '/static/js/chat/group_admin.js',
  '/static/js/chat/group_lines.js',
  '/static/js/chat/groups.js',
  '/static/js/chat/keys.js',
  '/static/js/chat/pairs.js',
  '/static/js/chat/plaintext.js',
  '/static/js/chat/presence.js',
  '/static/js/chat/reads.js',
  '/static/js/chat/receiving.js',
  '/static/js/chat/roster.js',
  '/static/js/chat/sending.js',
  '/static/js/chat/typing.js',
  '/static/js/chat/uploads.js',
  '/static/js/crypto.js',
  '/static/js/encoding.js',
  '/static/js/groupcrypto.js',
  '/static/js/i18n.js',
  '/static/js/keyring.js',
  '/static/js/language.js',
  '/static/js/notification_text.js',
  '/static/js/outbox.js',
  '/static/js/pins.js',
  '/static/js/session.js',
  '/static/js/store.js',
  '/static/js/timeline.js',
  '/static/js/transfer.js',
  '/static/js/transport.js',
  '/static/js/ui/account.js',
  '/static/js/ui/auth.js',
  '/static/js/ui/composer.js',
  '/static/js/ui/conversation.js',
  '/static/js/ui/dialogs.js',
  '/static/js/ui/dom.js',
  '/static/js/ui/groups.js',
  '/static/js/ui/icons.js',
  '/static/js/ui/notifications.js',
  '/static/js/ui/progress.js',
  '/static/js/ui/sidebar.js',
  '/static/js/ui/status.js',
  '/static/manifest.webmanifest',
  '/static/icons/icon.svg',
  '/static/icons/icon-192.png',
  '/static/icons/icon-512.png',
  '/vendor/socket.io/socket.io.esm.min.js',
  '/vendor/qrcode/qrcode.mjs',
  '/i18n/fr.json',
];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    // One missing file must not stop the others from being kept.
    await Promise.all(SHELL_FILES.map((url) => cache.add(new Request(url, { cache: 'reload' })).catch(() => {})));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith('sendapp-shell-') && n !== SHELL).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

function isShellAsset(url) {
  return ['/static/', '/vendor/', '/i18n/'].some((prefix) => url.pathname.startsWith(prefix));
}

/** Keep a copy of the chat page for offline starts (only a real, logged-in answer). */
async function keepChatPage(response) {
  if (response.ok && !response.redirected && response.type === 'basic') {
    const cache = await caches.open(PAGES);
    await cache.put('/', response.clone());
  }
}

/** Pages: network first; keep the chat page for offline starts; fall back to it offline. */
async function page(request) {
  const url = new URL(request.url);
  try {
    const response = await fetch(request);
    if (url.pathname === '/') await keepChatPage(response);
    return response;
  } catch (err) {
    const cached = await caches.match(url.pathname === '/' ? '/' : request, { ignoreSearch: true });
    if (cached) return cached;
    return offlinePage();
  }
}

/** The device's language as the server would choose it: the switch's cookie, else the
 * browser's languages (static/js/language.js, sendapp/i18n/choice.py). */
async function deviceLanguage() {
  const languages = ['en', 'fr'];
  const chosen = await self.cookieStore?.get('sendapp_lang').catch(() => null);
  if (chosen && languages.includes(chosen.value)) return chosen.value;
  return (self.navigator.languages || []).map((tag) => tag.slice(0, 2).toLowerCase())
    .find((tag) => languages.includes(tag)) || 'en';
}

/** A sentence from the kept catalogue of `language` (English, the source, has none). */
function t(sentence, catalogue) {
  const found = catalogue[sentence];
  return typeof found === 'string' ? found : sentence;
}

/** What an offline start of a page that was never kept shows, in the device's language. */
async function offlinePage() {
  const language = await deviceLanguage();
  let catalogue = {};
  const kept = language === 'en' ? null : await caches.match(`/i18n/${language}.json`);
  if (kept) catalogue = (await kept.json().catch(() => ({}))).messages || {};
  const sentence = t('You are offline and this page has not been kept for offline use.', catalogue);
  return new Response(`<!doctype html><html lang="${language}"><meta charset="utf-8"><title>SendApp</title><p>${sentence}</p>`,
    { status: 503, headers: { 'Content-Type': 'text/html; charset=utf-8' } });
}

/** Shell files: network first (always fresh online), the kept copy offline. */
async function asset(request) {
  const cache = await caches.open(SHELL);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw err;
  }
}

// activate's claim() skips a page whose navigation is still in flight (login → chat during the
// first install): that page stays uncontrolled until reloaded, unless it asks to be claimed.
self.addEventListener('message', (event) => {
  if (event.data?.type === 'claim') event.waitUntil(self.clients.claim());
});

// The chat page's first load usually happens before this worker controls it, so the page
// asks once the worker is ready; the answer tells it the page is kept.
self.addEventListener('message', (event) => {
  if (event.data?.type !== 'keep-chat-page') return;
  event.waitUntil((async () => {
    let kept = false;
    try {
      const response = await fetch('/', { credentials: 'same-origin', cache: 'no-store' });
      await keepChatPage(response);
      kept = Boolean(await caches.match('/'));
    } catch {
      // Offline right now: the next online load keeps it.
    }
    event.source?.postMessage({ type: 'chat-page-kept', kept });
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/socket.io/')) return;
  if (request.mode === 'navigate') {
    event.respondWith(page(request));
  } else if (isShellAsset(url)) {
    event.respondWith(asset(request));
  }
});
