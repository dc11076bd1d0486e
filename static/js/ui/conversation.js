// The conversation pane: header, key and waiting banners, the message timeline (grouped by
// day and sender, delivery ticks, attachments), infinite scroll and jump-to-latest.
// Message text is set with textContent, so HTML and scripts show literally. A group
// (PROTOCOL §9) shows the same pane with its members' names on their messages, system lines
// for membership changes, and who has read up to where.

import { currentLanguage, t, tn } from '../i18n.js';
import { buildTimeline, collapseSealed, formatSize, formatTime, isLongText, messageTime } from '../timeline.js';
import { avatar, h, reconcile, setAttr, setText, updateAvatar } from './dom.js';
import { icon } from './icons.js';
import { createProgress, updateProgress } from './progress.js';

const NEAR_BOTTOM_PX = 120;
const JUMP_SHOWN_PX = 320;
const OLDER_TRIGGER_PX = 400;
const TINY_IMAGE_PX = 48;

/** A delivery status in words (a function: the catalogue loads after the modules are evaluated). */
function statusLabel(status) {
  switch (status) {
    case 'sending': return t('Sending');
    case 'sent': return t('Sent');
    case 'delivered': return t('Delivered');
    case 'read': return t('Read');
    case 'failed': return t('Not sent');
    default: return status;
  }
}
const STATUS_ICONS = { sending: 'clock', sent: 'check', delivered: 'checks', read: 'checks', failed: 'alert' };

/**
 * @param {HTMLElement} root the conversation element
 * @param {object} intents back, safety, unfriend, ackKey, loadOlder, attachment(file, {onProgress}), cancelDownload(file),
 *   cancelUpload(key, cid), shouldAutoload, retry, discard, attach,
 *   groupInfo(key), nameOf(userId), readers(key) → Map(message id → names), presenceKnown() → boolean
 */
export function createConversationView(root, intents) {
  const empty = root.querySelector('[data-testid="conversation-empty"]');
  const inner = root.querySelector('.conversation-inner');
  const title = root.querySelector('[data-testid="conversation-title"]');
  const peerStatus = root.querySelector('[data-testid="peer-status"]');
  const headerAvatar = root.querySelector('.conversation-header .avatar-slot');
  const keyWarning = root.querySelector('[data-testid="key-warning"]');
  const keyWarningText = keyWarning.querySelector('.banner-text');
  const waiting = root.querySelector('[data-testid="waiting-banner"]');
  const waitingText = waiting.querySelector('.banner-text');
  const scroller = root.querySelector('[data-testid="message-list"]');
  const timeline = scroller.querySelector('.timeline');
  const historyStatus = scroller.querySelector('[data-testid="history-status"]');
  const sentinel = scroller.querySelector('.history-sentinel');
  const jump = root.querySelector('[data-testid="jump-to-latest"]');
  const jumpCount = jump.querySelector('.jump-count');
  const typingEl = root.querySelector('[data-testid="typing-indicator"]');

  let friend = null; // the open conversation's row: a friend, or a group (kind 'group')
  let conv = null;
  let unseen = 0;
  let stickToBottom = true;
  let foldSeq = 0;

  root.querySelector('[data-testid="back-button"]').addEventListener('click', () => intents.back());
  const isGroup = () => friend?.kind === 'group';
  /** The conversation key: a friend's id, or a group's 'g:<id>'. */
  const convKey = () => (isGroup() ? friend.key : friend.id);
  /** Whose key a warning is about: the friend, or the first co-member with one. */
  const warnedUser = () => (isGroup() ? friend.keyWarnings[0] : friend.id);
  const groupInfoButton = root.querySelector('[data-testid="group-info-button"]');
  const safetyButton = root.querySelector('[data-testid="safety-button"]');
  const unfriendButton = root.querySelector('[data-testid="unfriend-button"]');
  groupInfoButton.addEventListener('click', () => isGroup() && intents.groupInfo(friend.key));
  safetyButton.addEventListener('click', () => friend && !isGroup() && intents.safety(friend.id));
  unfriendButton.addEventListener('click', () => friend && !isGroup() && intents.unfriend(friend.id));
  const ackButton = keyWarning.querySelector('[data-testid="key-warning-ack"]');
  ackButton.addEventListener('click', () => friend && intents.ackKey(warnedUser()));
  keyWarning.querySelector('[data-testid="key-warning-verify"]').addEventListener('click', () => friend && intents.safety(warnedUser()));
  jump.addEventListener('click', () => scrollToBottom(true));

  // Drop or paste files to attach them.
  root.addEventListener('dragover', (event) => {
    if (!friend || !event.dataTransfer?.types?.includes('Files')) return;
    event.preventDefault();
    root.classList.add('is-dropping');
  });
  root.addEventListener('dragleave', (event) => {
    if (event.target === root || !root.contains(event.relatedTarget)) root.classList.remove('is-dropping');
  });
  root.addEventListener('drop', (event) => {
    root.classList.remove('is-dropping');
    if (!friend || !event.dataTransfer?.files?.length) return;
    event.preventDefault();
    intents.attach([...event.dataTransfer.files]);
  });

  function distanceFromBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
  }

  function scrollToBottom(smooth = false) {
    scroller.scrollTo({ top: scroller.scrollHeight, behavior: smooth ? 'smooth' : 'auto' });
    unseen = 0;
    stickToBottom = true;
    updateJump();
  }

  function updateJump() {
    const far = distanceFromBottom() > JUMP_SHOWN_PX;
    if (!far && stickToBottom) unseen = 0;
    jump.hidden = !far && unseen === 0;
    setText(jumpCount, unseen ? String(unseen) : '');
    jumpCount.hidden = !unseen;
    setAttr(jump, 'aria-label', unseen ? tn('Jump to latest ({count} new message)', 'Jump to latest ({count} new messages)', unseen) : t('Jump to latest'));
  }

  scroller.addEventListener('scroll', () => {
    stickToBottom = distanceFromBottom() < NEAR_BOTTOM_PX;
    if (stickToBottom) unseen = 0;
    updateJump();
    maybeLoadOlder();
  }, { passive: true });

  function maybeLoadOlder() {
    if (!friend || !conv || !conv.hasMore || conv.loadingOlder || conv.loading) return;
    if (scroller.scrollTop < OLDER_TRIGGER_PX) intents.loadOlder(convKey());
  }

  if (typeof IntersectionObserver === 'function') {
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) maybeLoadOlder();
    }, { root: scroller, rootMargin: `${OLDER_TRIGGER_PX}px 0px 0px 0px` }).observe(sentinel);
  }

  // --- message items ---
  function createItem(item) {
    if (item.type === 'system') {
      return h('li', { class: 'system-line', dataset: { testid: 'system-line' } }, h('span', { class: 'system-text', dir: 'auto' }));
    }
    if (item.type === 'day') {
      return h('li', { class: 'day-separator', dataset: { testid: 'day-separator' } }, h('span', { class: 'day-label' }));
    }
    if (item.type === 'sealed') {
      return h('li', { class: 'sealed-notice', dataset: { testid: 'undecryptable-notice' } },
        h('div', { class: 'sealed-box' }, icon('lock', { size: 18 }),
          h('p', { class: 'sealed-text' }, h('span', { class: 'sealed-count' }), ' ',
            h('span', { class: 'sealed-why muted' }))));
    }
    const bubble = h('div', { class: 'bubble' },
      h('div', { class: 'msg-content' }),
      h('span', { class: 'msg-meta' },
        h('time', { class: 'msg-time' }),
        h('span', { class: 'msg-status', dataset: { testid: 'message-status' }, role: 'img' })));
    return h('li', { class: 'msg', dataset: { testid: 'message' } }, bubble);
  }

  function updateItem(li, item) {
    if (item.type === 'day') {
      setText(li.firstElementChild, item.label);
      return;
    }
    const m = item.message;
    if (item.type === 'sealed') {
      setAttr(li, 'data-count', String(m.count));
      setAttr(li, 'data-cids', m.cids.join(' '));
      setText(li.querySelector('.sealed-count'), tn(
        '{count} earlier message can’t be read on this device: it was sealed for a key this account no longer has.',
        '{count} earlier messages can’t be read on this device: they were sealed for a key this account no longer has.', m.count));
      setText(li.querySelector('.sealed-why'), t('This happens after a password reset: the old key went with the old password. The people you wrote with can still read them.'));
      return;
    }
    if (item.type === 'system') {
      setAttr(li, 'data-id', m.id ?? null);
      setAttr(li, 'data-verdict', m.verdict || null);
      setText(li.firstElementChild, m.text || '');
      return;
    }
    updateSender(li, item);
    updateReaders(li, item);
    li.classList.toggle('msg-out', m.out);
    li.classList.toggle('msg-in', !m.out);
    li.classList.toggle('group-start', item.first);
    li.classList.toggle('group-end', item.last);
    setAttr(li, 'data-id', m.id ?? null);
    setAttr(li, 'data-cid', m.cid);
    setAttr(li, 'data-from', m.from);
    setAttr(li, 'data-kind', m.kind);
    setAttr(li, 'data-status', m.out ? m.status : null);
    setAttr(li, 'data-unverified', m.unverified ? 'true' : null);
    let unverified = li.querySelector('.msg-unverified');
    if (m.unverified && !unverified) {
      unverified = h('p', { class: 'msg-unverified', dataset: { testid: 'message-unverified' } },
        icon('warning', { size: 14 }), h('span', { text: t('From an unverified key') }));
      li.querySelector('.bubble').prepend(unverified);
    } else if (!m.unverified && unverified) {
      unverified.remove();
    }
    const content = li.querySelector('.msg-content');
    const signature = contentSignature(m);
    if (content.dataset.signature !== signature) {
      content.dataset.signature = signature;
      content.replaceChildren(...renderContent(m));
    }
    const ts = messageTime(m);
    const time = li.querySelector('.msg-time');
    setText(time, ts ? formatTime(ts) : '');
    setAttr(time, 'datetime', ts ? new Date(ts).toISOString() : null);
    setAttr(time, 'title', ts ? new Date(ts).toLocaleString(currentLanguage()) : null);
    const status = li.querySelector('.msg-status');
    status.hidden = !m.out;
    if (m.out && status.dataset.status !== m.status) {
      status.dataset.status = m.status;
      status.replaceChildren(icon(STATUS_ICONS[m.status] || 'clock', { size: 16 }));
      setAttr(status, 'aria-label', statusLabel(m.status));
      setAttr(status, 'title', statusLabel(m.status));
    }
    let failure = li.querySelector('.msg-failure');
    if (m.out && m.status === 'failed') {
      if (!failure) {
        failure = h('div', { class: 'msg-failure', dataset: { testid: 'message-failed' } },
          h('span', { class: 'msg-failure-text' }),
          h('button', { type: 'button', class: 'button button-ghost button-small', dataset: { testid: 'message-retry' },
            on: { click: () => intents.retry(convKey(), m.cid) } }, icon('retry', { size: 14 }), t('Retry')),
          h('button', { type: 'button', class: 'button button-ghost button-small', dataset: { testid: 'message-discard' },
            on: { click: () => intents.discard(convKey(), m.cid) } }, icon('trash', { size: 14 }), t('Delete')));
        li.append(failure);
      }
      setText(failure.querySelector('.msg-failure-text'), m.error?.message ? t('Not sent: {reason}', { reason: m.error.message }) : t('Not sent: refused.'));
    } else if (failure) {
      failure.remove();
    }
  }

  /** A group message from someone else names its sender at the start of each run. */
  function updateSender(li, item) {
    const m = item.message;
    const show = isGroup() && !m.out && item.first;
    let sender = li.querySelector('.msg-sender');
    if (show && !sender) {
      sender = h('span', { class: 'msg-sender', dir: 'auto', dataset: { testid: 'message-sender' } });
      li.querySelector('.bubble').prepend(sender);
    } else if (!show && sender) {
      sender.remove();
      sender = null;
    }
    if (sender) setText(sender, intents.nameOf(m.from));
  }

  /** "Read by …" under the newest message each other member has read (groups). */
  function updateReaders(li, item) {
    const names = item.readers;
    let line = li.querySelector('.msg-readers');
    if (!names?.length) {
      line?.remove();
      return;
    }
    if (!line) {
      line = h('p', { class: 'msg-readers', dataset: { testid: 'message-readers' } });
      li.append(line);
    }
    setText(line, t('Read by {names}', { names: names.join(', ') }));
    setAttr(line, 'data-readers', names.join(','));
  }

  function contentSignature(m) {
    if (m.kind === 'file') return `file:${m.file?.blob || ''}:${m.file?.transfer?.phase || ''}:${m.file?.localUrl ? 'l' : ''}:${m.status === 'failed' ? 'f' : ''}`;
    return `${m.kind}:${m.kind === 'text' ? m.body.length : ''}`;
  }

  function renderContent(m) {
    if (m.kind === 'text') {
      const text = h('p', { class: 'msg-text', dir: 'auto', dataset: { testid: 'message-body' }, text: m.body });
      return isLongText(m.body) ? foldable(text) : [text];
    }
    if (m.kind === 'error') {
      return [h('p', { class: 'msg-error', dataset: { testid: 'message-undecryptable' } }, icon('lock', { size: 16 }),
        // m.error is the decryption reason; an own item that also failed to send holds its
        // send error there instead (shown by the failure line).
        h('span', { text: typeof m.error === 'string' && m.error ? m.error : t('Could not decrypt this message.') }))];
    }
    if (m.kind === 'file') return [renderFile(m)];
    return [h('p', { class: 'msg-text muted', text: t('Decrypting…') })];
  }

  /** A long text folded to a few lines, with a "Show more" / "Show less" toggle. */
  function foldable(text) {
    text.id = `msg-text-${++foldSeq}`;
    text.classList.add('is-folded');
    const toggle = h('button', { type: 'button', class: 'msg-more', dataset: { testid: 'message-more' },
      'aria-expanded': 'false', 'aria-controls': text.id, text: t('Show more') });
    toggle.addEventListener('click', () => {
      const unfold = text.classList.contains('is-folded');
      text.classList.toggle('is-folded', !unfold);
      setAttr(toggle, 'aria-expanded', String(unfold));
      setText(toggle, unfold ? t('Show less') : t('Show more'));
      if (!unfold) toggle.closest('.msg')?.scrollIntoView({ block: 'nearest' });
    });
    return [text, toggle];
  }

  function renderFile(m) {
    const file = m.file;
    if (m.out && file.transfer) return renderUpload(m);
    if (intents.shouldAutoload(file)) return renderImage(file);
    return renderDownload(file);
  }

  /** An own attachment not yet sent: its phase and progress, and a way to cancel it. */
  function renderUpload(m) {
    const file = m.file;
    const failed = m.status === 'failed';
    const progress = createProgress(file.name);
    updateProgress(progress, file.transfer);
    const box = h('div', { class: `attachment-file${failed ? ' is-error' : ' is-busy'}`, dataset: { testid: 'attachment-uploading', phase: file.transfer.phase } },
      h('span', { class: 'attachment-icon' }, icon(failed ? 'warning' : 'file', { size: 22 })),
      h('span', { class: 'attachment-info' },
        h('span', { class: 'attachment-name', dir: 'auto', text: file.name }),
        h('span', { class: 'attachment-size', text: formatSize(file.size) }),
        progress),
      failed ? null : h('button', { type: 'button', class: 'icon-button', dataset: { testid: 'attachment-cancel' },
        'aria-label': t('Cancel sending {name}', { name: file.name }), title: t('Cancel'),
        on: { click: () => intents.cancelUpload(convKey(), m.cid) } }, icon('close', { size: 18 })));
    if (file.localUrl) {
      return h('figure', { class: 'attachment-image is-busy', dataset: { testid: 'attachment-image' } },
        h('img', { src: file.localUrl, alt: file.name }), box);
    }
    return box;
  }

  /** A download in progress: what it is doing, and a button to stop it. */
  function downloadProgress(file) {
    const progress = createProgress(file.name);
    updateProgress(progress, { phase: 'downloading', loaded: 0, total: null });
    const cancel = h('button', { type: 'button', class: 'icon-button', dataset: { testid: 'attachment-download-cancel' },
      'aria-label': t('Cancel downloading {name}', { name: file.name }), title: t('Cancel'),
      on: { click: () => intents.cancelDownload(file) } }, icon('close', { size: 18 }));
    return { progress, cancel, onProgress: (transfer) => updateProgress(progress, transfer) };
  }

  function renderImage(file) {
    const loading = downloadProgress(file);
    const figure = h('figure', { class: 'attachment-image', dataset: { testid: 'attachment-image', state: 'loading' } },
      h('div', { class: 'attachment-placeholder' }, loading.progress, loading.cancel));
    intents.attachment(file, { onProgress: loading.onProgress }).then(({ url }) => {
      const img = h('img', { src: url, alt: file.name, decoding: 'async' });
      img.addEventListener('load', () => {
        figure.dataset.state = 'ready';
        // A picture a few pixels big is shown scaled up into the minimum box, crisp, not smeared.
        figure.classList.toggle('is-tiny', img.naturalWidth < TINY_IMAGE_PX && img.naturalHeight < TINY_IMAGE_PX);
        if (stickToBottom) scrollToBottom();
      });
      img.addEventListener('error', () => {
        figure.dataset.state = 'error';
        figure.replaceChildren(renderDownload(file, t('This image cannot be shown.')));
      });
      const link = h('a', { href: url, target: '_blank', rel: 'noopener', class: 'attachment-link', 'aria-label': t('Open image {name}', { name: file.name }) }, img);
      figure.replaceChildren(link, h('figcaption', { class: 'visually-hidden', text: t('{name}, {size}', { name: file.name, size: formatSize(file.size) }) }));
    }).catch((err) => {
      figure.dataset.state = 'error';
      figure.replaceChildren(attachmentError(file, err, () => figure.replaceWith(renderImage(file))));
    });
    return figure;
  }

  function attachmentError(file, err, retry) {
    const problem = err?.name === 'CryptoError' ? t('Could not open the attachment: it failed its integrity check.')
      : err?.code === 'aborted' ? t('Could not open the attachment: you cancelled it.')
        : err?.code === 'not_found' ? t('Could not open the attachment: it is no longer on the server.')
          : err?.code === 'offline' ? t('Could not open the attachment: you are offline.')
            : err?.message ? t('Could not open the attachment: {reason}', { reason: err.message }) : t('Could not open the attachment.');
    return h('div', { class: 'attachment-file is-error', dataset: { testid: 'attachment-error' } },
      icon('warning', { size: 20 }),
      h('span', { class: 'attachment-info' },
        h('span', { class: 'attachment-name', dir: 'auto', text: file.name }),
        h('span', { class: 'attachment-size', text: problem })),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': t('Try {name} again', { name: file.name }), on: { click: retry } }, icon('retry', { size: 18 })));
  }

  function renderDownload(file, note = null) {
    const button = h('button', { type: 'button', class: 'icon-button attachment-download', dataset: { testid: 'attachment-download' },
      'aria-label': t('Download {name} ({size})', { name: file.name, size: formatSize(file.size) }), title: t('Download') }, icon('download', { size: 18 }));
    const box = h('div', { class: 'attachment-file', dataset: { testid: 'attachment-file' } },
      h('span', { class: 'attachment-icon' }, icon('file', { size: 22 })),
      h('span', { class: 'attachment-info' },
        h('span', { class: 'attachment-name', dir: 'auto', text: file.name }),
        h('span', { class: 'attachment-size', text: note || formatSize(file.size) })),
      button);
    button.addEventListener('click', async () => {
      const size = box.querySelector('.attachment-size');
      const loading = downloadProgress(file);
      size.hidden = true;
      size.after(loading.progress);
      button.replaceWith(loading.cancel);
      try {
        const { url } = await intents.attachment(file, { onProgress: loading.onProgress });
        const link = h('a', { href: url, download: file.name, class: 'icon-button attachment-download',
          dataset: { testid: 'attachment-link' }, 'aria-label': t('Save {name}', { name: file.name }), title: t('Save') }, icon('download', { size: 18 }));
        loading.progress.remove();
        size.hidden = false;
        loading.cancel.replaceWith(link);
        link.click();
      } catch (err) {
        const shown = attachmentError(file, err, () => shown.replaceWith(renderDownload(file)));
        box.replaceWith(shown); // its retry replaces the error, the element on screen then
      }
    });
    return box;
  }

  function timelineItems() {
    const items = [];
    const readers = isGroup() ? intents.readers(friend.key) : new Map();
    for (const entry of buildTimeline(collapseSealed(conv.list.list()))) {
      if (entry.type === 'day') {
        items.push(entry);
        continue;
      }
      // A system line (a group's `group` message carries its admin as sender) breaks a run.
      const run = entry.messages;
      const apart = (message) => message.kind === 'system' || message.kind === 'sealed';
      run.forEach((message, index) => items.push({
        type: apart(message) ? message.kind : 'message', key: message.key, message,
        first: index === 0 || apart(run[index - 1]),
        last: index === run.length - 1 || apart(run[index + 1]),
        readers: message.id != null ? readers.get(message.id) : null,
      }));
    }
    return items;
  }

  function renderHistoryStatus() {
    if (!conv) return;
    if (conv.loadingOlder || (conv.loading && conv.list.size === 0)) {
      setText(historyStatus, t('Loading messages…'));
      historyStatus.dataset.state = 'loading';
    } else if (!conv.hasMore) {
      setText(historyStatus, conv.list.size
        ? (isGroup() ? t('This is the beginning of what you can read in this group. Messages are end-to-end encrypted.')
          : t('This is the beginning of your conversation. Messages are end-to-end encrypted.'))
        : isGroup() ? t('No messages yet. Only the members can read what is written here.')
          : friend?.username ? t('No messages yet. Say hello to {name} — only the two of you can read what you write.', { name: friend.username })
            : t('No messages yet. Say hello to your friend — only the two of you can read what you write.'));
      historyStatus.dataset.state = 'start';
    } else {
      setText(historyStatus, '');
      historyStatus.dataset.state = 'more';
    }
  }

  /** A group's header: name, members, typing, key-change and unconfirmed banners (§9.6). */
  function renderGroupHeader() {
    const g = friend;
    setText(title, g.title);
    if (!headerAvatar.firstElementChild?.classList.contains('avatar-group')) {
      headerAvatar.replaceChildren(h('span', { class: 'avatar avatar-md avatar-group', 'aria-hidden': 'true' }, icon('users', { size: 20 })));
    }
    const names = g.typingNames || [];
    const typing = g.typing && names.length;
    const count = g.members.length;
    setText(peerStatus, typing ? t('{names} typing…', { names: names.join(', ') })
      : count === 1 ? t('Only you') : tn('{count} member: {names}', '{count} members: {names}', count, { names: g.members.map((m) => m.username).join(', ') }));
    peerStatus.dataset.state = typing ? 'typing' : 'group';
    setText(typingEl, typing ? (names.length === 1 ? t('{name} is typing…', { name: names[0] }) : t('{names} are typing…', { names: names.join(', ') })) : '');
    typingEl.hidden = !typing;
    const warned = g.keyWarnings.length ? g.members.find((m) => m.id === g.keyWarnings[0]) : null;
    const warning = g.keyWarning;
    keyWarning.hidden = !warned;
    keyWarning.dataset.kind = !warned ? '' : warning.pending.size ? 'changed' : 'rejected';
    ackButton.hidden = !warning?.pending.size;
    setText(keyWarningText, !warned ? ''
      : warning.pending.size
        ? t('{name}’s security key has changed. Compare the new safety number with {name}, then accept the new key. Until then their messages under it are marked, and sending to this group asks you first.', { name: warned.username })
        : t('The server gave a key for {name} that does not match its id, so nothing can be encrypted for this group until it gives the right key.', { name: warned.username }));
    const unconfirmed = g.unconfirmed.map((id) => intents.nameOf(id));
    waiting.hidden = !unconfirmed.length;
    setText(waitingText, unconfirmed.length
      ? t('Not yet confirmed by an admin’s device: {names}. The server says they were added; this normally clears within a second. If it lasts, ask an admin.', { names: unconfirmed.join(', ') })
      : '');
  }

  return {
    /** Switch to a friend's conversation (or none). */
    show(nextFriend, nextConv) {
      const changed = friend?.key !== nextFriend?.key || friend?.id !== nextFriend?.id;
      friend = nextFriend;
      conv = nextConv;
      empty.hidden = Boolean(friend);
      inner.hidden = !friend;
      if (!friend) return;
      if (changed) {
        timeline.replaceChildren();
        unseen = 0;
        stickToBottom = true;
      }
      this.renderHeader(friend);
      this.renderMessages('reset');
    },

    renderHeader(next) {
      if (!friend || next.id !== friend.id || next.kind !== friend.kind) return;
      friend = next;
      groupInfoButton.hidden = !isGroup();
      safetyButton.hidden = isGroup();
      unfriendButton.hidden = isGroup();
      if (isGroup()) {
        renderGroupHeader();
        return;
      }
      headerAvatar.replaceChildren(...[...headerAvatar.children].filter((el) => !el.classList.contains('avatar-group')));
      setText(title, friend.username);
      if (!headerAvatar.firstElementChild) headerAvatar.append(avatar(friend.username, { presence: friend.online }));
      else updateAvatar(headerAvatar.firstElementChild, friend.username, friend.online);
      // While this device cannot reach the server nobody's presence is known: say so, not "offline".
      const known = intents.presenceKnown();
      const presence = friend.typing ? 'typing' : !known ? 'unknown' : friend.online ? 'online' : 'offline';
      const status = !friend.key_id ? t('waiting for their key') : presence === 'typing' ? t('typing…')
        : presence === 'unknown' ? t('status unknown — reconnecting') : presence === 'online' ? t('online') : t('offline');
      setText(peerStatus, status);
      peerStatus.dataset.state = presence;
      setAttr(headerAvatar, 'data-presence', presence === 'unknown' ? 'unknown' : null);
      setText(typingEl, friend.typing ? t('{name} is typing…', { name: friend.username }) : '');
      typingEl.hidden = !friend.typing;
      const warning = friend.keyWarning;
      keyWarning.hidden = !warning;
      keyWarning.dataset.kind = !warning ? '' : warning.pending.size ? 'changed' : 'rejected';
      ackButton.hidden = !warning?.pending.size;
      setText(keyWarningText, !warning ? ''
        : warning.pending.size
          ? t('{name}’s security key has changed. This happens when they reset their account, but it could also mean someone is intercepting. Compare the new safety number with {name}, then accept the new key. Until then their messages under it are marked, and sending asks you first.', { name: friend.username })
          : t('The server gave a key for {name} that does not match its id, so it was not used. Nothing can be encrypted for {name} until the server gives the right key.', { name: friend.username }));
      waiting.hidden = Boolean(friend.key_id);
      setText(waitingText, friend.key_id ? '' : t('Waiting for {name} to log in again. Their account has no key yet, so messages cannot be encrypted for them.', { name: friend.username }));
      root.querySelector('[data-testid="safety-button"]').disabled = !friend.key_id;
    },

    /** An own attachment's upload moved on: update its progress in place (no re-render). */
    updateTransfer(cid, transfer) {
      const li = [...timeline.children].find((el) => el.dataset.cid === cid && el.classList.contains('msg-out'));
      const progress = li?.querySelector('[data-testid="attachment-uploading"] .transfer');
      if (progress) updateProgress(progress, transfer);
    },

    /** The open conversation's key, or null. */
    key() {
      return friend ? convKey() : null;
    },

    /** Re-render the timeline; `reason` says how to treat the scroll position. */
    renderMessages(reason = 'update', { own = false } = {}) {
      if (!friend || !conv) return;
      const nearBottom = stickToBottom || distanceFromBottom() < NEAR_BOTTOM_PX;
      const beforeHeight = scroller.scrollHeight;
      const beforeTop = scroller.scrollTop;
      const beforeCount = timeline.querySelectorAll('.msg-in').length;
      reconcile(timeline, timelineItems(), { key: (item) => item.key, create: createItem, update: updateItem });
      renderHistoryStatus();
      if (reason === 'reset' || own || (nearBottom && reason !== 'prepend')) {
        scrollToBottom();
      } else if (reason === 'prepend') {
        if (beforeHeight <= scroller.clientHeight + 1) scrollToBottom();
        else scroller.scrollTop = beforeTop + (scroller.scrollHeight - beforeHeight);
      } else if (reason === 'append') {
        unseen += Math.max(0, timeline.querySelectorAll('.msg-in').length - beforeCount);
        updateJump();
      }
      if (reason === 'prepend' || reason === 'reset') requestAnimationFrame(maybeLoadOlder);
    },

    /** True when this pane is what the user sees (the narrow layout shows one screen). */
    isOnScreen() {
      return Boolean(friend) && root.offsetParent !== null && root.getBoundingClientRect().width > 0;
    },

    current() {
      return friend;
    },
  };
}
