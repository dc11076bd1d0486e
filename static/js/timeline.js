// One conversation's messages as the UI shows them: de-duplicated by cid and id, ordered,
// grouped by day and sender, with delivery states. Pure: no DOM, no network, no crypto.

import { currentLanguage, t } from './i18n.js';
import { advanceStatus, STATUS } from './outbox.js';

const GROUP_GAP_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The identity of a message across echo, sync, history and outbox: sender + cid. */
export function messageKey(from, cid) {
  return `${from}:${cid}`;
}

/**
 * Order: stored messages by id, then pending ones in the order they were written. A system
 * line (a group's membership change, PROTOCOL §9.6) has no id but a place `at` between ids.
 */
export function compareMessages(a, b) {
  const aid = a.id ?? a.at ?? null;
  const bid = b.id ?? b.at ?? null;
  if (aid !== null && bid !== null) return aid - bid;
  if (aid !== null) return -1;
  if (bid !== null) return 1;
  return (a.seq ?? 0) - (b.seq ?? 0);
}

/**
 * The messages of one conversation. A message is
 * {key, id, cid, from, to, ts, out, status, kind: 'text'|'file'|'error'|'pending'|'system', body, file, error, seq}
 * (a 'system' line of a group holds its `text`, and `at` when it has no id).
 */
export class MessageList {
  constructor({ me, peer }) {
    this.me = me;
    this.peer = peer;
    this.byKey = new Map();
    this.byId = new Map();
    this.peerReadUpTo = 0;
    this.sorted = null;
  }

  get size() {
    return this.byKey.size;
  }

  has(from, cid) {
    return this.byKey.has(messageKey(from, cid));
  }

  hasId(id) {
    return this.byId.has(id);
  }

  get(key) {
    return this.byKey.get(key) || null;
  }

  /**
   * Add or update a message; answers {message, added}. A second copy (echo, sync, history
   * page, resend) merges into the first: never shown twice.
   */
  upsert(incoming) {
    const key = messageKey(incoming.from, incoming.cid);
    let existing = this.byKey.get(key);
    if (!existing && incoming.id != null) existing = this.byId.get(incoming.id) || null;
    if (existing) {
      const merged = this.merge(existing, incoming);
      return { message: merged, added: false };
    }
    const message = { ...incoming, key, out: incoming.from === this.me };
    if (message.out) {
      message.status = this.effectiveStatus(message, message.status || (message.id != null ? STATUS.DELIVERED : STATUS.SENDING));
    } else {
      message.status = null;
    }
    this.byKey.set(key, message);
    if (message.id != null) this.byId.set(message.id, message);
    this.sorted = null;
    return { message, added: true };
  }

  merge(existing, incoming) {
    if (incoming.id != null && existing.id == null) {
      existing.id = incoming.id;
      this.byId.set(incoming.id, existing);
      this.sorted = null;
    }
    if (incoming.ts != null) existing.ts = incoming.ts;
    // Replace a placeholder (pending decryption) with content, never content with a placeholder.
    if (incoming.kind && incoming.kind !== 'pending' && (existing.kind === 'pending' || !existing.kind)) {
      existing.kind = incoming.kind;
      existing.body = incoming.body;
      existing.file = incoming.file;
      existing.error = incoming.error;
      existing.reason = incoming.reason;
    }
    if (existing.out && incoming.status) {
      existing.status = this.effectiveStatus(existing, advanceStatus(existing.status, incoming.status));
    }
    return existing;
  }

  /** Raise a stored outgoing message to `read` once the peer's marker covers it. */
  effectiveStatus(message, status) {
    if (message.id != null && message.id <= this.peerReadUpTo && status !== STATUS.FAILED) return STATUS.READ;
    return status;
  }

  /** Apply a delivery state to an outgoing message by cid; answers the message or null. */
  setStatus(cid, status, { id = null, ts = null, error = null } = {}) {
    const message = this.byKey.get(messageKey(this.me, cid));
    if (!message) return null;
    if (id != null) this.merge(message, { id, ts });
    message.status = this.effectiveStatus(message, status === STATUS.SENDING && message.status === STATUS.FAILED
      ? STATUS.SENDING : advanceStatus(message.status, status));
    message.error = status === STATUS.FAILED ? error : null;
    return message;
  }

  /** The peer read up to `upTo`: answers the messages whose status changed. */
  setPeerRead(upTo) {
    if (!(upTo > this.peerReadUpTo)) return [];
    this.peerReadUpTo = upTo;
    const changed = [];
    for (const message of this.byKey.values()) {
      if (message.out && message.id != null && message.id <= upTo && message.status !== STATUS.READ
        && message.status !== STATUS.FAILED) {
        message.status = STATUS.READ;
        changed.push(message);
      }
    }
    return changed;
  }

  remove(key) {
    const message = this.byKey.get(key);
    if (!message) return;
    this.byKey.delete(key);
    if (message.id != null) this.byId.delete(message.id);
    this.sorted = null;
  }

  /** Every message in display order. */
  list() {
    if (!this.sorted) this.sorted = [...this.byKey.values()].sort(compareMessages);
    return this.sorted;
  }

  oldestId() {
    const first = this.list().find((m) => m.id != null);
    return first ? first.id : null;
  }

  newestId() {
    let max = 0;
    for (const id of this.byId.keys()) max = Math.max(max, id);
    return max;
  }

  /** The newest id the peer sent (what a read marker may cover). */
  newestIncomingId() {
    let max = 0;
    for (const [id, message] of this.byId) if (!message.out) max = Math.max(max, id);
    return max;
  }

  last() {
    const list = this.list();
    return list.length ? list[list.length - 1] : null;
  }
}

// --- grouping for display --------------------------------------------------------------

/** Local calendar day of a timestamp, as a sortable key. */
export function dayKey(ts) {
  const d = new Date(ts);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function startOfDay(ts) {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** "Today", "Yesterday", a weekday within the week, else a date. */
export function dayLabel(ts, now = Date.now(), locale = currentLanguage()) {
  const days = Math.round((startOfDay(now) - startOfDay(ts)) / DAY_MS);
  if (days === 0) return t('Today');
  if (days === 1) return t('Yesterday');
  if (days > 1 && days < 7) return new Intl.DateTimeFormat(locale, { weekday: 'long' }).format(ts);
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear();
  return new Intl.DateTimeFormat(locale, sameYear ? { day: 'numeric', month: 'long' }
    : { day: 'numeric', month: 'long', year: 'numeric' }).format(ts);
}

/** Hours and minutes in the chosen language. */
export function formatTime(ts, locale = currentLanguage()) {
  return new Intl.DateTimeFormat(locale, { timeStyle: 'short' }).format(ts); // 8:02 AM, 08:02
}

/** Short "last activity" for the friend list: a time today, else a day or a date. */
export function formatLastActivity(ts, now = Date.now(), locale = currentLanguage()) {
  if (!ts) return '';
  const days = Math.round((startOfDay(now) - startOfDay(ts)) / DAY_MS);
  if (days === 0) return formatTime(ts, locale);
  if (days === 1) return t('Yesterday');
  if (days > 1 && days < 7) return new Intl.DateTimeFormat(locale, { weekday: 'short' }).format(ts);
  return new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short' }).format(ts);
}

/** Human file size in the chosen language: 999 B, 1.2 KB, 3.4 MB (French: 1,2 Ko). */
export function formatSize(bytes, locale = currentLanguage()) {
  if (!Number.isFinite(bytes) || bytes < 0) return '';
  if (bytes < 1000) return t('{value} B', { value: new Intl.NumberFormat(locale).format(bytes) });
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < 2) {
    value /= 1000;
    unit += 1;
  }
  const digits = value < 10 ? 1 : 0;
  const shown = new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
  if (unit === 0) return t('{value} KB', { value: shown });
  if (unit === 1) return t('{value} MB', { value: shown });
  return t('{value} GB', { value: shown });
}

/** The time a message belongs to: server time, else when it was written (pending). */
export function messageTime(message) {
  return message.ts ?? message.created ?? 0;
}

/**
 * Group ordered messages into day separators and runs by one sender, a run broken by a
 * gap of more than five minutes. Answers [{type:'day', key, label, ts} |
 * {type:'group', key, from, out, messages}].
 */
export function buildTimeline(messages, { now = Date.now(), locale = currentLanguage(), gapMs = GROUP_GAP_MS } = {}) {
  const items = [];
  let day = null;
  let group = null;
  let lastTime = 0;
  for (const message of messages) {
    const ts = messageTime(message);
    const key = dayKey(ts);
    if (key !== day) {
      day = key;
      items.push({ type: 'day', key: `day:${key}`, label: dayLabel(ts, now, locale), ts });
      group = null;
    }
    if (!group || group.from !== message.from || ts - lastTime > gapMs) {
      group = { type: 'group', key: `group:${message.key}`, from: message.from, out: Boolean(message.out), messages: [] };
      items.push(group);
    }
    group.messages.push(message);
    lastTime = ts;
  }
  return items;
}

// --- what the first-time view condenses ---------------------------------------------------

/** Why a message failed to decrypt when it was sealed for one of my keys this device does not hold. */
export const SEALED_FOR_OLD_KEY = 'missing_own_key';

/**
 * Collapse each run of consecutive messages sealed for a key this account no longer has (what
 * a password reset leaves behind) into one notice: {kind: 'sealed', key, count, cids, ts, id}.
 * Other decryption failures stay one item each: they may be a warning sign; so does an unsent
 * message of mine (no id), whose item says it failed and offers retry or delete.
 */
export function collapseSealed(messages) {
  const out = [];
  let run = null;
  for (const message of messages) {
    // Only stored messages fold: an unsent one of mine keeps its own item, with its failure and actions.
    if (message.kind !== 'error' || message.reason !== SEALED_FOR_OLD_KEY || message.id == null) {
      run = null;
      out.push(message);
      continue;
    }
    if (!run) {
      run = { kind: 'sealed', key: `sealed:${message.key}`, from: null, id: message.id ?? null,
        ts: messageTime(message), count: 0, cids: [] };
      out.push(run);
    }
    run.count += 1;
    run.cids.push(message.cid);
  }
  return out;
}

const LONG_TEXT_CHARS = 1200;
const LONG_TEXT_LINES = 20;

/** True when a text is long enough to be shown folded, with "Show more". */
export function isLongText(text, { chars = LONG_TEXT_CHARS, lines = LONG_TEXT_LINES } = {}) {
  if (typeof text !== 'string') return false;
  if (text.length > chars) return true;
  let breaks = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) if (++breaks >= lines) return true;
  return false;
}

/** A one-line preview of a message for the friend list and notifications. */
export function previewText(message) {
  if (!message) return '';
  if (message.kind === 'text') return message.body.replace(/\s+/g, ' ').trim().slice(0, 120);
  if (message.kind === 'file') return message.file?.mime?.startsWith('image/') ? t('Photo') : t('File: {name}', { name: message.file?.name || '' });
  if (message.kind === 'error') return t('Message could not be decrypted');
  if (message.kind === 'system') return message.text || '';
  return t('Encrypted message');
}
