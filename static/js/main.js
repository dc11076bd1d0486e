// The single wiring point (the browser twin of create_app): builds the API client, the
// store, the transport, the keyring and the chat client, and connects them to the UI of
// the page named by <body data-page>.

import { Api, csrfFromDocument } from './api.js';
import { ChatClient } from './chat/client.js';
import { exportHistory } from './chat/export.js';
import { assertWebCrypto } from './crypto.js';
import { Keyring } from './keyring.js';
import * as session from './session.js';
import { Store } from './store.js';
import { previewText } from './timeline.js';
import { Transport, wantsPolling } from './transport.js';
import { bindAuthForm } from './ui/auth.js';
import { createComposer } from './ui/composer.js';
import { createConversationView } from './ui/conversation.js';
import { t, tn } from './i18n.js';
import { bindLanguageSwitches, loadLanguage } from './language.js';
import { createAccountDialog, saveFile } from './ui/account.js';
import { createAcceptKeyDialog, createConfirmDialog, createSafetyDialog } from './ui/dialogs.js';
import { createGroupDialog, createNewGroupDialog } from './ui/groups.js';
import { initials } from './ui/dom.js';
import { decorateIcons } from './ui/icons.js';
import { bindNotificationSettings, createNotifier } from './ui/notifications.js';
import { createSidebar } from './ui/sidebar.js';
import { bindConnectionState, Toasts } from './ui/status.js';

const PAGES_CACHE = 'sendapp-pages';
const NARROW = '(max-width: 767px)';
/** The login page's notice for `?reason=`, or null (a function: the catalogue loads after the
 * modules are evaluated). */
function loginNotice(reason) {
  switch (reason) {
    case 'keys': return t('This device does not hold your keys any more. Log in again to unlock them.');
    case 'expired': return t('Your session has ended. Log in again.');
    case 'logout_unconfirmed': return t('This device forgot your keys, but the server could not confirm the logout. Log in and out again when it is reachable.');
    case 'signed_out': return t('You were signed out: this session was ended (a logout elsewhere, a password change, the administrator, or it expired). Log in again.');
    case 'deleted': return t('Your account was deleted, and this device forgot everything it held for it.');
    default: return null;
  }
}
const SIGNED_OUT_REDIRECT_MS = 4000;

/**
 * Register the offline worker. On the chat page, ask it to keep this page: the first load
 * usually happens before the worker controls it. `<body data-offline-ready>` tells the answer.
 */
function registerServiceWorker({ keepChatPage = false } = {}) {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {
    // Without the worker the app still works online; it just cannot open offline.
  });
  if (!keepChatPage) return;
  navigator.serviceWorker.addEventListener('message', (event) => {
    if (event.data?.type === 'chat-page-kept') document.body.dataset.offlineReady = String(event.data.kept);
  });
  navigator.serviceWorker.startMessages();
  navigator.serviceWorker.ready.then((registration) => {
    registration.active?.postMessage({ type: 'keep-chat-page' });
  });
}

/** Forget the cached chat page (it names the user) when the session ends. */
async function forgetPages() {
  if (globalThis.caches) await caches.delete(PAGES_CACHE).catch(() => {});
}

function cryptoProblem() {
  try {
    assertWebCrypto();
    return null;
  } catch (err) {
    return err.message;
  }
}

// --- login and register pages ---------------------------------------------------------

/**
 * Forget every session's secrets on this device, also when the server or IndexedDB fails:
 * opening the login or register page, logging out and a revoked session all end here.
 */
async function forgetDevice(store = null) {
  try {
    await session.forgetDevice({ store: store || await Store.open(0), forgetPages });
  } catch {
    await forgetPages();
  }
}

async function startAuth(mode) {
  await forgetDevice();
  const api = new Api({ csrfToken: csrfFromDocument() });
  const form = document.querySelector('[data-testid="auth-form"]');
  const notice = document.querySelector('[data-testid="auth-notice"]');
  const reason = new URLSearchParams(location.search).get('reason');
  if (notice && loginNotice(reason)) {
    notice.textContent = loginNotice(reason);
    notice.hidden = false;
  }
  const deps = (progress) => ({ api, openStore: (userId) => Store.open(userId), progress });
  bindAuthForm(form, {
    mode,
    precheck: cryptoProblem,
    submit: (values, progress) => (mode === 'login' ? session.login(deps(progress), values) : session.register(deps(progress), values)),
    onDone: () => location.assign('/'),
  });
}

// --- the chat page ---------------------------------------------------------------------

async function startChat() {
  const body = document.body;
  const me = { id: Number(body.dataset.userId), username: body.dataset.username, keyId: body.dataset.keyId || null };
  const api = new Api({ csrfToken: csrfFromDocument() });
  const store = await Store.open(me.id);
  const transport = new Transport({ forcePolling: wantsPolling() });
  const keyring = new Keyring({ me: me.id, store, api });
  const client = new ChatClient({ me, api, store, transport, keyring });

  const app = document.querySelector('[data-testid="app"]');
  document.querySelector('.avatar-self').textContent = initials(me.username);
  const toasts = new Toasts(document.querySelector('[data-testid="toasts"]'));
  const narrow = window.matchMedia(NARROW);
  const drafts = new Map();
  const fail = (err) => toasts.show(err?.message || String(err));

  bindConnectionState(transport);
  const safety = createSafetyDialog(document.querySelector('[data-testid="safety-dialog"]'), { myKeyId: me.keyId });
  const confirm = createConfirmDialog(document.querySelector('[data-testid="confirm-dialog"]'));
  const acceptKey = createAcceptKeyDialog(document.querySelector('[data-testid="accept-key-dialog"]'));

  /**
   * Ask before sending while a key warning is unanswered (PROTOCOL §6) or, in a group, before
   * the first send to a member no admin confirmed (§9.6); answers whether it was confirmed.
   */
  const confirmKeyChange = async (key) => {
    const warning = client.sendWarning(key);
    if (!warning) return false;
    const names = warning.names.join(', ');
    const question = warning.reason === 'unconfirmed'
      ? {
        heading: t('Not yet confirmed: {names}', { names }),
        body: t('The server says {names} joined this group, but no admin’s device has confirmed it yet. Send anyway, so that {names} can read it too?', { names }),
        confirm: t('Send anyway'),
        danger: true,
      }
      : {
        heading: t('{names}’s security key changed', { names }),
        body: t('You have not accepted {names}’s new key yet. Send anyway, encrypted for the new key? Compare the safety number first if the message is sensitive.', { names }),
        confirm: t('Send anyway'),
        danger: true,
      };
    const yes = await confirm.ask(question);
    if (!yes) {
      const why = warning.reason === 'unconfirmed' ? t('Not sent: the unconfirmed members were not accepted.') : t('Not sent: the key change is not confirmed.');
      throw Object.assign(new Error(why), { code: warning.reason === 'unconfirmed' ? 'group_unconfirmed' : 'key_unconfirmed' });
    }
    return true;
  };

  const updateReading = () => {
    const on = document.visibilityState === 'visible' && document.hasFocus()
      && client.activeId !== null && conversation.isOnScreen();
    client.setReading(on);
  };

  const open = async (friendId, { push = true } = {}) => {
    if (client.activeId !== null) drafts.set(client.activeId, composer.draft());
    app.dataset.view = friendId === null ? 'list' : 'conversation';
    if (friendId !== null && push && narrow.matches && history.state?.conversation == null) {
      history.pushState({ conversation: friendId }, '');
    }
    const opening = client.open(friendId);
    const friend = friendId === null ? null : client.rowOf(friendId);
    conversation.show(friend, friendId === null ? null : client.conv(friendId));
    composer.setDraft(friendId === null ? '' : drafts.get(friendId) || '');
    updateComposer();
    updateReading();
    if (friendId !== null && !narrow.matches) composer.focus();
    await opening;
  };

  const back = () => {
    if (history.state?.conversation != null) history.back();
    else open(null, { push: false });
  };

  const sidebar = createSidebar(document.querySelector('[data-testid="sidebar"]'), {
    open: (id) => open(id).catch(fail),
    search: (q) => client.searchUsers(q),
    add: (username) => client.requestFriend(username)
      .then((status) => toasts.show(status === 'accepted' ? t('You and {name} are now friends.', { name: username }) : t('Friend request sent to {name}.', { name: username }), { kind: 'info' }))
      .catch(fail),
    accept: (id) => client.acceptFriend(id).catch(fail),
    decline: (id) => client.removeFriend(id).catch(fail),
    cancel: (id) => client.removeFriend(id).catch(fail),
  });

  const attach = async (files) => {
    const friendId = client.activeId;
    if (friendId === null || !client.canSend(friendId)) return;
    let confirmed;
    try {
      confirmed = await confirmKeyChange(friendId);
    } catch (err) {
      fail(err);
      return;
    }
    for (const file of files) client.sendFile(friendId, file, { confirmed }).catch((err) => fail(new Error(t('Could not send {name}: {reason}', { name: file.name, reason: err.message }))));
  };

  const conversation = createConversationView(document.querySelector('[data-testid="conversation"]'), {
    back,
    safety: (id) => safety.open(client.person(id), () => client.safetyNumber(id)),
    unfriend: async (id) => {
      const friend = client.friends.get(id);
      const yes = await confirm.ask({
        heading: t('Remove {name}?', { name: friend.username }),
        body: t('You will no longer be able to write to each other, and this conversation disappears from this device. You can send a new friend request later.'),
        confirm: t('Remove friend'),
        danger: true,
      });
      if (yes) await client.removeFriend(id, { forget: true }).then(() => back()).catch(fail);
    },
    ackKey: (id) => acceptKey.open(client.person(id), (password) => client.acceptKeys(id, password)),
    groupInfo: (key) => groupDialog.open(groupModel(key)),
    nameOf: (id) => client.nameOf(id),
    readers: (key) => client.readersOf(key),
    presenceKnown: () => client.presenceKnown,
    loadOlder: (id) => client.loadOlder(id),
    attachment: (file, opts) => client.attachment(file, opts),
    cancelDownload: (file) => client.cancelDownload(file),
    cancelUpload: (key, cid) => client.cancelUpload(key, cid).catch(fail),
    shouldAutoload: (file) => client.shouldAutoload(file),
    retry: (friendId, cid) => client.retry(friendId, cid).catch(fail),
    discard: (friendId, cid) => client.discard(friendId, cid).catch(fail),
    attach,
  });

  const composer = createComposer(document.querySelector('[data-testid="composer"]'), {
    send: async (text) => {
      const friendId = client.activeId;
      try {
        const confirmed = await confirmKeyChange(friendId);
        return await client.sendText(friendId, text, { confirmed });
      } catch (err) {
        fail(err);
        throw err;
      }
    },
    typing: () => client.activeId !== null && client.typing(client.activeId),
    attach,
  });

  function updateComposer() {
    const key = client.activeId;
    const row = key === null ? null : client.rowOf(key);
    if (!row) return;
    const enabled = client.canSend(key);
    composer.setEnabled(enabled, enabled ? ''
      : row.kind === 'group' ? t('A member of this group has no key yet: wait until they log in again.')
        : t('Waiting for {name} to log in again.', { name: row.username }));
  }

  // --- groups (PROTOCOL §9) ---
  /** What the group panel shows for a group, or null when this user is no longer in it. */
  function groupModel(key) {
    const row = client.group(key);
    if (!row) return null;
    const inGroup = new Set(row.members.map((m) => m.id));
    const unconfirmed = new Set(row.unconfirmed);
    return {
      key, title: row.title, name: row.name, isAdmin: row.myRole === 'admin',
      members: row.members.map((m) => ({ id: m.id, username: m.username, role: m.role, isMe: m.id === client.me.id,
        unconfirmed: unconfirmed.has(m.id), keyWarning: row.keyWarnings.includes(m.id) })),
      addable: client.friendList().filter((f) => !inGroup.has(f.id) && f.key_id),
    };
  }

  const newGroupDialog = createNewGroupDialog(document.querySelector('[data-testid="new-group-dialog"]'), {
    create: async (name, ids) => {
      const key = await client.createGroup(name, ids);
      open(key).catch(fail);
    },
  });
  document.querySelector('[data-testid="new-group-button"]').addEventListener('click', () => newGroupDialog.open(client.friendList()));

  const groupDialog = createGroupDialog(document.querySelector('[data-testid="group-dialog"]'), {
    rename: (key, name) => client.renameGroup(key, name),
    add: (key, userId) => client.addGroupMember(key, userId),
    promote: (key, userId) => client.promoteGroupMember(key, userId),
    remove: async (key, userId) => {
      const yes = await confirm.ask({
        heading: t('Remove {name}?', { name: client.nameOf(userId) }),
        body: t('{name} will not receive anything sent to this group from now on.', { name: client.nameOf(userId) }),
        confirm: t('Remove'),
        danger: true,
      });
      if (yes) await client.removeGroupMember(key, userId);
    },
    leave: async (key) => {
      const yes = await confirm.ask({
        heading: t('Leave {group}?', { group: client.groupTitle(key) }),
        body: t('You will not receive what is sent to this group any more, and it disappears from your list. Only an admin can add you again.'),
        confirm: t('Leave group'),
        danger: true,
      });
      if (!yes) return false;
      await client.leaveGroup(key);
      return true;
    },
    safety: (userId) => safety.open(client.person(userId), () => client.safetyNumber(userId)),
  });

  const notifier = createNotifier(document.querySelector('[data-testid="notifications-button"]'), {
    open: (id) => open(id).catch(fail),
  });
  bindNotificationSettings(document.querySelector('[data-testid="notification-settings-dialog"]'),
    document.querySelector('[data-testid="notification-settings-button"]'));

  // Render the sidebar at most once per task, however many changes arrive together.
  let friendsQueued = false;
  const renderFriends = () => {
    friendsQueued = false;
    const friends = client.friendList();
    const groups = client.groupList();
    sidebar.render({ friends, groups, incoming: client.incoming, outgoing: client.outgoing, activeId: client.activeId,
      presenceKnown: client.presenceKnown });
    const active = client.activeId === null ? null : client.rowOf(client.activeId);
    if (active) conversation.renderHeader(active);
    updateComposer();
    const shownGroup = conversation.key();
    if (typeof shownGroup === 'string' && groupDialog.isOpenFor(shownGroup)) groupDialog.render(groupModel(shownGroup));
    const unread = [...friends, ...groups].reduce((sum, f) => sum + (f.unread || 0), 0);
    document.title = unread ? `(${unread}) SendApp` : 'SendApp';
  };
  client.addEventListener('friends', () => {
    if (friendsQueued) return;
    friendsQueued = true;
    queueMicrotask(renderFriends);
  });
  client.addEventListener('messages', ({ detail }) => {
    if (detail.friendId !== client.activeId || detail.friendId === null) return;
    if (detail.reason === 'reset') conversation.show(client.rowOf(detail.friendId), client.conv(detail.friendId));
    else conversation.renderMessages(detail.reason, { own: detail.own });
  });
  client.addEventListener('transfer', ({ detail }) => {
    if (detail.friendId === client.activeId) conversation.updateTransfer(detail.cid, detail.transfer);
  });
  client.addEventListener('typing', ({ detail }) => {
    const friend = client.rowOf(detail.friendId);
    if (friend && detail.friendId === client.activeId) conversation.renderHeader(friend);
  });
  client.addEventListener('notify', ({ detail }) => {
    const row = detail.friend;
    const who = row.kind === 'group' ? { id: row.key, username: row.title } : row;
    const sender = row.kind === 'group' ? client.nameOf(detail.message.from) : null;
    notifier.message(who, { sender, text: previewText(detail.message) });
  });
  client.addEventListener('groups', ({ detail }) => {
    // A group this user left or was removed from: its conversation closes (PROTOCOL §9.5).
    if (detail.key && conversation.key() === detail.key && !client.group(detail.key)) back();
  });
  client.addEventListener('notice', ({ detail }) => toasts.show(detail.message, { kind: 'info' }));
  client.addEventListener('error', ({ detail }) => toasts.show(detail.message, { sticky: Boolean(detail.sticky) }));
  let ended = false;
  /** The session is over: nothing decrypted stays on screen or in memory; say so; go to login. */
  const endSession = async (reason) => {
    if (ended) return;
    ended = true;
    client.end();
    document.querySelectorAll('dialog[open]').forEach((dialog) => dialog.close());
    app.remove();
    document.title = 'SendApp';
    const notice = reason === 'no_keys' ? 'keys' : 'signed_out';
    const screen = document.querySelector('[data-testid="signed-out"]');
    if (reason !== 'no_keys' && screen) {
      screen.hidden = false;
      screen.querySelector('[data-testid="signed-out-login"]')?.focus();
    }
    try {
      await forgetDevice(store);
    } finally {
      const go = () => location.assign(`/login?reason=${notice}`);
      if (reason === 'no_keys' || !screen) go();
      else setTimeout(go, SIGNED_OUT_REDIRECT_MS);
    }
  };
  client.addEventListener('session', ({ detail }) => endSession(detail.reason));

  document.querySelector('[data-testid="logout-button"]').addEventListener('click', async () => {
    const unsent = await client.unsentCount().catch(() => 0);
    if (unsent) {
      const yes = await confirm.ask({
        heading: tn('Log out with {count} unsent message?', 'Log out with {count} unsent messages?', unsent),
        body: tn('It has not reached the server yet. Logging out deletes it from this device; stay to let it be sent when the connection is back.',
          'They have not reached the server yet. Logging out deletes them from this device; stay to let them be sent when the connection is back.', unsent),
        confirm: tn('Log out and delete it', 'Log out and delete them', unsent),
        danger: true,
      });
      if (!yes) return;
      await store.clearOutbox().catch(() => {});
    }
    ended = true;
    client.end();
    let confirmed = false;
    try {
      confirmed = await session.logout({ api, store, forgetPages });
    } finally {
      location.assign(confirmed ? '/login' : '/login?reason=logout_unconfirmed');
    }
  });

  // --- the account in the user's hands: password, devices, export, deletion ---
  const account = createAccountDialog(document.querySelector('[data-testid="account-dialog"]'), {
    changePassword: (values) => session.changePassword({ api, store }, { username: me.username, ...values }),
    sessions: async () => (await api.sessions()).sessions,
    endSession: (id) => api.endSession(id),
    endOthers: async () => (await api.endOtherSessions()).ended,
    exportHistory: async (format) => {
      let result;
      try {
        result = await exportHistory(client);
      } catch (err) {
        if (err?.code === 'offline' || err?.code === 'timeout') throw new Error(t('The server cannot be reached: connect to export your history.'));
        throw err;
      }
      const base = `sendapp-history-${me.username}-${new Date().toISOString().slice(0, 10)}`;
      if (format === 'json') saveFile(`${base}.json`, result.json, 'application/json');
      else saveFile(`${base}.txt`, result.text, 'text/plain;charset=utf-8');
      return result.count;
    },
    confirmDelete: () => confirm.ask({
      heading: t('Delete your account for good?'),
      body: t('Your account, your keys and every message you sent or received are deleted from the server. Your friends will no longer see you. This cannot be undone.'),
      confirm: t('Delete my account'),
      danger: true,
    }),
    deleteAccount: async (password) => {
      ended = true; // the server closes this tab's socket too: that is not a surprise sign-out
      try {
        await session.deleteAccount({ api, store, forgetPages }, { username: me.username, password });
      } catch (err) {
        ended = false;
        throw err;
      }
      client.end();
      location.assign('/login?reason=deleted');
    },
  });
  document.querySelector('[data-testid="account-button"]').addEventListener('click', () => account.open());

  document.addEventListener('visibilitychange', updateReading);
  window.addEventListener('focus', updateReading);
  window.addEventListener('blur', updateReading);
  narrow.addEventListener('change', updateReading);
  window.addEventListener('popstate', () => {
    if (history.state?.conversation == null && client.activeId !== null && narrow.matches) open(null, { push: false });
  });
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || event.defaultPrevented) return;
    if (document.querySelector('dialog[open]')) return; // the dialog closes itself
    if (sidebar.closePanels()) return;
    if (narrow.matches && client.activeId !== null) back();
  });

  app.dataset.view = 'list';
  renderFriends();
  if (await client.start()) renderFriends();
}

// --- start -----------------------------------------------------------------------------

await loadLanguage(); // before any sentence is written
decorateIcons(document);
bindLanguageSwitches(document);
const page = document.body.dataset.page;
registerServiceWorker({ keepChatPage: page === 'chat' });
if (page === 'login' || page === 'register') startAuth(page).catch(() => {});
else if (page === 'chat') {
  startChat().catch((err) => {
    const problem = document.querySelector('[data-testid="fatal-error"]');
    if (problem) {
      problem.textContent = t('SendApp could not start: {reason}', { reason: err.message });
      problem.hidden = false;
    }
  });
}
