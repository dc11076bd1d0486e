// The sidebar: friends and groups (presence, unread, last activity), requests, and people search.
// Renders state it is given and forwards intents; never touches the network itself.

import { t, tn } from '../i18n.js';
import { formatLastActivity } from '../timeline.js';
import { avatar, h, reconcile, setAttr, setText, updateAvatar } from './dom.js';
import { icon } from './icons.js';

const SEARCH_DELAY_MS = 250;

/**
 * @param {HTMLElement} root the sidebar element
 * @param {{open: (key: number|string) => void, search: (q: string) => Promise<object[]>, add: (name: string) => Promise<void>,
 *          accept: (id: number) => Promise<void>, decline: (id: number) => Promise<void>,
 *          cancel: (id: number) => Promise<void>}} intents
 */
export function createSidebar(root, intents) {
  const list = root.querySelector('[data-testid="friend-list"]');
  const empty = root.querySelector('[data-testid="friends-empty"]');
  const requests = root.querySelector('[data-testid="requests"]');
  const incomingList = root.querySelector('[data-testid="incoming-requests"]');
  const outgoingList = root.querySelector('[data-testid="outgoing-requests"]');
  const input = root.querySelector('[data-testid="search-input"]');
  const results = root.querySelector('[data-testid="search-results"]');
  const resultList = results.querySelector('ul');
  const resultStatus = results.querySelector('.search-status');
  const clearButton = root.querySelector('[data-testid="search-clear"]');
  let state = { friends: [], groups: [], incoming: [], outgoing: [], activeId: null };
  let timer = null;
  let searchSeq = 0;
  let lastResults = [];

  // --- friend rows ---
  function createFriend(friend) {
    const button = h('button', { type: 'button', class: 'friend-button', on: { click: () => intents.open(friend.id) } },
      avatar(friend.username, { presence: friend.online }),
      h('span', { class: 'friend-main' },
        h('span', { class: 'friend-top' },
          h('span', { class: 'friend-name', dataset: { testid: 'friend-name' } }),
          h('time', { class: 'friend-time' })),
        h('span', { class: 'friend-bottom' },
          h('span', { class: 'friend-preview', dir: 'auto' }),
          h('span', { class: 'badge', dataset: { testid: 'unread-badge' }, hidden: true }))));
    return h('li', { class: 'friend', dataset: { testid: 'friend-item' } }, button);
  }

  function updateFriend(li, friend) {
    setAttr(li, 'data-friend-id', friend.id);
    setAttr(li, 'data-username', friend.username);
    setAttr(li, 'data-online', String(friend.online));
    setAttr(li, 'data-presence', state.presenceKnown ? null : 'unknown');
    setAttr(li, 'data-unread', String(friend.unread || 0));
    const button = li.firstElementChild;
    setAttr(button, 'aria-current', state.activeId === friend.id ? 'true' : null);
    updateAvatar(button.querySelector('.avatar'), friend.username, friend.online);
    setText(li.querySelector('.friend-name'), friend.username);
    const time = li.querySelector('.friend-time');
    setText(time, formatLastActivity(friend.lastTs));
    setAttr(time, 'datetime', friend.lastTs ? new Date(friend.lastTs).toISOString() : null);
    const preview = li.querySelector('.friend-preview');
    let text = friend.preview ? (friend.previewOut ? t('You: {text}', { text: friend.preview }) : friend.preview) : '';
    if (!friend.key_id) text = t('Waiting for them to log in again');
    if (friend.typing) text = t('typing…');
    if (!text) text = friend.online ? t('Online') : t('Say hello');
    setText(preview, text);
    preview.classList.toggle('is-typing', Boolean(friend.typing));
    const badge = li.querySelector('.badge');
    badge.hidden = !(friend.unread > 0);
    setText(badge, friend.unread > 99 ? '99+' : String(friend.unread || ''));
    const parts = [friend.username, !state.presenceKnown ? t('status unknown') : friend.online ? t('online') : t('offline')];
    if (friend.unread) parts.push(tn('{count} unread message', '{count} unread messages', friend.unread));
    if (friend.keyWarning) parts.push(t('security key changed'));
    setAttr(button, 'aria-label', parts.join(', '));
    li.classList.toggle('has-warning', Boolean(friend.keyWarning));
  }

  // --- group rows (PROTOCOL §9): the same look, keyed 'g:<id>' ---
  function createGroup(group) {
    const button = h('button', { type: 'button', class: 'friend-button', on: { click: () => intents.open(group.key) } },
      h('span', { class: 'avatar avatar-md avatar-group', 'aria-hidden': 'true' }, icon('users', { size: 20 })),
      h('span', { class: 'friend-main' },
        h('span', { class: 'friend-top' },
          h('span', { class: 'friend-name', dir: 'auto', dataset: { testid: 'group-name' } }),
          h('time', { class: 'friend-time' })),
        h('span', { class: 'friend-bottom' },
          h('span', { class: 'friend-preview', dir: 'auto' }),
          h('span', { class: 'badge', dataset: { testid: 'unread-badge' }, hidden: true }))));
    return h('li', { class: 'friend is-group', dataset: { testid: 'group-item' } }, button);
  }

  function updateGroup(li, group) {
    setAttr(li, 'data-group-id', group.id);
    setAttr(li, 'data-title', group.title);
    setAttr(li, 'data-unread', String(group.unread || 0));
    const button = li.firstElementChild;
    setAttr(button, 'aria-current', state.activeId === group.key ? 'true' : null);
    setText(li.querySelector('.friend-name'), group.title);
    const time = li.querySelector('.friend-time');
    const ts = group.lastTs || group.created || null;
    setText(time, formatLastActivity(ts));
    setAttr(time, 'datetime', ts ? new Date(ts).toISOString() : null);
    const preview = li.querySelector('.friend-preview');
    let text = group.preview || t('No messages yet');
    if (group.preview && group.previewFrom) text = t('{name}: {text}', { name: group.previewFrom, text: group.preview });
    if (group.typing) text = group.typingNames?.length === 1 ? t('{name} is typing…', { name: group.typingNames[0] }) : t('Several people are typing…');
    setText(preview, text);
    preview.classList.toggle('is-typing', Boolean(group.typing));
    const badge = li.querySelector('.badge');
    badge.hidden = !(group.unread > 0);
    setText(badge, group.unread > 99 ? '99+' : String(group.unread || ''));
    let label = t('Group {name}', { name: group.title });
    if (group.unread) {
      label = tn('Group {name}, {count} unread message', 'Group {name}, {count} unread messages', group.unread, { name: group.title });
    }
    setAttr(button, 'aria-label', group.keyWarning || group.unconfirmed?.length ? t('{label}, needs your attention', { label }) : label);
    li.classList.toggle('has-warning', Boolean(group.keyWarning || group.unconfirmed?.length));
  }

  // --- requests ---
  function requestRow(request, kind) {
    const actions = kind === 'incoming'
      ? [
        actionButton(t('Accept'), 'accept-request', 'primary', () => intents.accept(request.id),
          t('Accept the friend request from {name}', { name: request.username })),
        actionButton(t('Decline'), 'decline-request', 'ghost', () => intents.decline(request.id),
          t('Decline the friend request from {name}', { name: request.username })),
      ]
      : [h('span', { class: 'muted', text: t('Pending') }),
        actionButton(t('Cancel'), 'cancel-request', 'ghost', () => intents.cancel(request.id),
          t('Cancel your friend request to {name}', { name: request.username }))];
    return h('li', { class: 'request', dataset: { testid: `${kind}-request`, userId: String(request.id), username: request.username } },
      avatar(request.username, { size: 'sm' }),
      h('span', { class: 'request-name', text: request.username }),
      h('span', { class: 'request-actions' }, actions));
  }

  /** A small button; `name` is its accessible name when the visible word alone does not say whose row it acts on. */
  function actionButton(label, testid, kind, run, name = null) {
    const button = h('button', { type: 'button', class: `button button-${kind} button-small`, text: label, dataset: { testid },
      'aria-label': name });
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await run();
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  function renderRequests() {
    incomingList.replaceChildren(...state.incoming.map((r) => requestRow(r, 'incoming')));
    outgoingList.replaceChildren(...state.outgoing.map((r) => requestRow(r, 'outgoing')));
    requests.hidden = !state.incoming.length && !state.outgoing.length;
    incomingList.hidden = !state.incoming.length;
    outgoingList.hidden = !state.outgoing.length;
    requests.querySelector('.incoming-title').hidden = !state.incoming.length;
    requests.querySelector('.outgoing-title').hidden = !state.outgoing.length;
  }

  // --- search ---
  function filterText() {
    return input.value.trim().toLowerCase();
  }

  function renderResults(users) {
    lastResults = users;
    resultList.replaceChildren(...users.map((user) => {
      let action;
      if (user.relation === 'friend') {
        action = actionButton(t('Open'), 'open-result', 'ghost', async () => { clearSearch(); intents.open(user.id); },
          t('Open the conversation with {name}', { name: user.username }));
      } else if (user.relation === 'incoming') {
        action = actionButton(t('Accept'), 'accept-result', 'primary', () => intents.accept(user.id),
          t('Accept the friend request from {name}', { name: user.username }));
      } else if (user.relation === 'outgoing') {
        action = h('span', { class: 'muted', text: t('Requested') });
      } else {
        action = actionButton(t('Add'), 'add-friend', 'primary', () => intents.add(user.username));
        action.prepend(icon('userPlus', { size: 16 }));
        action.setAttribute('aria-label', t('Send a friend request to {name}', { name: user.username }));
      }
      return h('li', { class: 'request', dataset: { testid: 'search-result', username: user.username } },
        avatar(user.username, { size: 'sm' }),
        h('span', { class: 'request-name', text: user.username }),
        h('span', { class: 'request-actions' }, action));
    }));
  }

  async function runSearch() {
    const q = filterText();
    const seq = ++searchSeq;
    if (q.length < 1) {
      results.hidden = true;
      return;
    }
    results.hidden = false;
    setText(resultStatus, t('Searching…'));
    try {
      const users = await intents.search(q);
      if (seq !== searchSeq) return;
      renderResults(users);
      setText(resultStatus, users.length ? '' : t('Nobody found whose name starts with “{query}”.', { query: q }));
    } catch (err) {
      if (seq !== searchSeq) return;
      renderResults([]);
      setText(resultStatus, err?.code === 'offline' ? t('Search needs a connection.') : t('Search failed. Try again.'));
    }
  }

  function clearSearch() {
    input.value = '';
    clearButton.hidden = true;
    results.hidden = true;
    searchSeq += 1;
    renderFriends();
  }

  input.addEventListener('input', () => {
    clearButton.hidden = !input.value;
    renderFriends();
    clearTimeout(timer);
    timer = setTimeout(runSearch, SEARCH_DELAY_MS);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && input.value) {
      event.preventDefault();
      event.stopPropagation();
      clearSearch();
    }
  });
  clearButton.addEventListener('click', () => {
    clearSearch();
    input.focus();
  });

  /** Friends and groups in one list, by last activity (groups carry kind 'group'). */
  function renderFriends() {
    const q = filterText();
    const all = [...state.friends, ...(state.groups || [])]
      .sort((a, b) => (b.lastTs || b.created || 0) - (a.lastTs || a.created || 0));
    const shown = q ? all.filter((row) => (row.kind === 'group' ? row.title.toLowerCase() : row.username).includes(q)) : all;
    reconcile(list, shown, {
      key: (row) => (row.kind === 'group' ? `group:${row.key}` : `friend:${row.id}`),
      create: (row) => (row.kind === 'group' ? createGroup(row) : createFriend(row)),
      update: (li, row) => (row.kind === 'group' ? updateGroup(li, row) : updateFriend(li, row)),
    });
    // A pending request (either way) is the first step already: "No friends yet" under it only confuses.
    empty.hidden = all.length > 0 || state.incoming.length > 0 || state.outgoing.length > 0;
  }

  return {
    /** Render the friend list and requests from the client's state. */
    render(next) {
      state = next;
      renderFriends();
      renderRequests();
      if (!results.hidden && lastResults.length) {
        const relation = new Map(next.friends.map((f) => [f.id, 'friend']));
        for (const r of next.incoming) relation.set(r.id, 'incoming');
        for (const r of next.outgoing) relation.set(r.id, 'outgoing');
        renderResults(lastResults.map((u) => ({ ...u, relation: relation.get(u.id) || 'none' })));
      }
    },
    /** Close the search panel (Escape). Answers whether anything was open. */
    closePanels() {
      if (!input.value && results.hidden) return false;
      clearSearch();
      return true;
    },
    refreshSearch: runSearch,
    focusSearch() {
      input.focus();
    },
  };
}
