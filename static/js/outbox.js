// The reconnect rule (PROTOCOL §8): on every (re)connect, `sync` from the sync cursor while
// `more`, THEN resend every outbox item with its same cid. Items stay in the store until the
// server acknowledges them. No DOM and no Socket.IO here: the request function is injected.

import { t } from './i18n.js';

/** Delivery states in the order they may advance; a status never moves back. */
export const STATUS = Object.freeze({ FAILED: 'failed', SENDING: 'sending', SENT: 'sent', DELIVERED: 'delivered', READ: 'read' });
const RANK = { failed: 0, sending: 1, sent: 2, delivered: 3, read: 4 };

/** The later of two statuses ('failed' only replaces 'sending'). */
export function advanceStatus(current, next) {
  if (!current) return next;
  if (next === STATUS.FAILED) return current === STATUS.SENDING ? next : current;
  if (current === STATUS.FAILED) return next; // retried, or it turned out to be stored
  return RANK[next] > RANK[current] ? next : current;
}

/** An outbox item sealed under an own key this session does not hold: never sent. */
export const STALE_KEY = 'stale_key';
/** Error codes after which resending the same envelope cannot succeed. */
const PERMANENT = new Set(['bad_request', 'forbidden', 'not_found', 'conflict', 'too_large', 'stale_members']);
/** The ack of a group `send` whose recipients are not the current members (§9.5). */
export const STALE_MEMBERS = 'stale_members';
const MAX_RESEALS = 3;
export const NEW_DEVICE_AFTER = Number.MAX_SAFE_INTEGER;
const SYNC_PAGE = 200;

/**
 * Pages through `sync` from the stored cursor. The cursor only moves after a page has been
 * handed to `deliver`, and live ids seen meanwhile are applied once the sync has finished,
 * so an interrupted sync never skips a message.
 */
export class Syncer {
  /**
   * @param {{store: import('./store.js').Store, request: (event: string, data: object) => Promise<object>,
   *          deliver: (envelopes: object[], source: string) => Promise<void>}} deps
   */
  constructor({ store, request, deliver }) {
    this.store = store;
    this.request = request;
    this.deliver = deliver;
    this.running = null;
    this.liveMax = 0;
  }

  /** Note an id received live; it moves the cursor now, or after a running sync. */
  async noteLive(id) {
    if (this.running) {
      this.liveMax = Math.max(this.liveMax, id);
      return;
    }
    await this.store.advanceCursor(id);
  }

  /** Run one full sync (concurrent callers share it). Answers the number of messages seen. */
  run() {
    if (!this.running) {
      this.running = this.runOnce().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  async runOnce() {
    let after = await this.store.cursor();
    let seen = 0;
    if (after === null) {
      // A new device starts at the newest id; history is loaded per conversation on demand.
      const ack = checkAck(await this.request('sync', { after: NEW_DEVICE_AFTER, limit: 1 }));
      after = await this.store.advanceCursor(ack.last || 0);
    } else {
      for (;;) {
        const ack = checkAck(await this.request('sync', { after, limit: SYNC_PAGE }));
        const messages = ack.messages || [];
        if (messages.length) {
          await this.deliver(messages, 'sync');
          seen += messages.length;
          after = Math.max(after, ...messages.map((m) => m.id));
          await this.store.advanceCursor(after);
        }
        if (!ack.more || !messages.length) break;
      }
    }
    if (this.liveMax > after) await this.store.advanceCursor(this.liveMax);
    this.liveMax = 0;
    return seen;
  }
}

function checkAck(ack) {
  if (!ack || ack.ok !== true) {
    const error = new Error(ack?.message || t('the server refused the request'));
    error.code = ack?.error || 'retry';
    throw error;
  }
  return ack;
}

/**
 * Envelopes waiting for the server's ack, persisted so a reload or a crash loses nothing.
 * Sends one at a time in the order written, so ids follow the order the user typed.
 */
export class Outbox {
  /**
   * @param {{store: import('./store.js').Store, request: (event: string, data: object) => Promise<object>,
   *          onStatus?: (cid: string, status: string, info: object) => void, now?: () => number,
   *          onUnauthorized?: () => void, retryDelay?: number,
   *          sealedWithHeldKey?: (envelope: object) => boolean,
   *          reseal?: (envelope: object, ack: object) => Promise<object>}} deps
   * `sealedWithHeldKey` says whether an envelope's own key (`sk`) is one this session holds:
   * an item sealed under a key dropped since (a password reset) is never sent.
   * `reseal` answers a group envelope sealed again, with the same cid, for the members a
   * `stale_members` ack names (PROTOCOL §9.5); it throws when that cannot be done.
   */
  constructor({ store, request, onStatus = () => {}, now = () => Date.now(), retryDelay = 3000, onUnauthorized = () => {},
    sealedWithHeldKey = () => true, reseal = null }) {
    this.reseal = reseal;
    this.store = store;
    this.request = request;
    this.onStatus = onStatus;
    this.onUnauthorized = onUnauthorized;
    this.sealedWithHeldKey = sealedWithHeldKey;
    this.stopped = false;
    this.now = now;
    this.retryDelay = retryDelay;
    this.timer = null;
    this.seq = 0;
    this.flushing = null;
    this.again = false;
  }

  /** Every waiting item, oldest first (shown as "sending" after a reload). */
  async items() {
    return this.store.outboxList();
  }

  /** Persist a new envelope, then try to send it. */
  async add(envelope) {
    const created = this.now();
    this.seq = Math.max(this.seq + 1, created * 1000);
    const item = { cid: envelope.cid, envelope, seq: this.seq, status: STATUS.SENDING, created, error: null };
    await this.store.outboxPut(item);
    this.onStatus(item.cid, STATUS.SENDING, item);
    this.flush().catch(() => {});
    return item;
  }

  /** The server holds this cid (seen in `message` or `sync`): the item is done. */
  async stored(cid) {
    const item = await this.store.outboxGet(cid);
    if (!item) return false;
    await this.store.outboxDelete(cid);
    return true;
  }

  /** Drop a failed item the user gave up on. */
  async discard(cid) {
    await this.store.outboxDelete(cid);
  }

  /** Put a failed item back in line. */
  async retry(cid) {
    const item = await this.store.outboxGet(cid);
    if (!item) return;
    item.status = STATUS.SENDING;
    item.error = null;
    await this.store.outboxPut(item);
    this.onStatus(cid, STATUS.SENDING, item);
    await this.flush();
  }

  /** Send every waiting item in order; one flush at a time, re-run if asked meanwhile. */
  flush() {
    if (this.stopped) return Promise.resolve();
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      try {
        do {
          this.again = false;
          await this.flushOnce();
        } while (this.again);
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  /** Schedule one more flush (after a transient refusal). */
  later(seconds) {
    if (this.timer || !this.retryDelay || this.stopped) return;
    const delay = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : this.retryDelay;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush().catch(() => {});
    }, delay);
  }

  /** Send nothing more (the session ended); items stay stored. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Send one item; on `stale_members` (§9.5: the group changed since it was sealed) seal the
   * same plaintext again with the same cid for the members now listed, store that envelope in
   * place of the old one, and send again, a bounded number of times.
   */
  async sendResealing(item) {
    let ack = await this.request('send', item.envelope);
    for (let round = 0; round < MAX_RESEALS && ack?.ok !== true && ack?.error === STALE_MEMBERS && this.reseal; round += 1) {
      try {
        item.envelope = await this.reseal(item.envelope, ack);
      } catch (err) {
        return { ok: false, error: err?.code || 'bad_request', message: err?.message || String(err) };
      }
      await this.store.outboxPut(item);
      ack = await this.request('send', item.envelope);
    }
    return ack;
  }

  async flushOnce() {
    for (const item of await this.store.outboxList()) {
      if (this.stopped) return;
      if (item.status === STATUS.FAILED) continue;
      if (!(await this.store.outboxGet(item.cid))) continue; // stored meanwhile
      if (!this.sealedWithHeldKey(item.envelope)) {
        item.status = STATUS.FAILED;
        item.error = { code: STALE_KEY, message: t('It was sealed with a key of yours from before a password reset, so it was not sent. Write it again.') };
        await this.store.outboxPut(item);
        this.onStatus(item.cid, STATUS.FAILED, item);
        continue;
      }
      let ack;
      try {
        ack = await this.sendResealing(item);
      } catch (err) {
        // Offline: the item waits for the next (re)connect. No answer while connected: try again soon.
        if (err?.code === 'timeout') this.later();
        return;
      }
      if (ack && ack.ok === true) {
        await this.store.outboxDelete(item.cid);
        this.onStatus(item.cid, STATUS.SENT, { ...item, id: ack.id, ts: ack.ts });
        continue;
      }
      const code = ack?.error || 'retry';
      if (code === 'unauthorized') { // the session ended: keep the item for after the next login
        this.onUnauthorized();
        return;
      }
      if (!PERMANENT.has(code)) { // retry / rate_limited: nothing stored, try again shortly
        this.later(ack?.retry_after); // the server says when (sendapp/load.py)
        return;
      }
      item.status = STATUS.FAILED;
      item.error = { code, message: ack?.message || code };
      await this.store.outboxPut(item);
      this.onStatus(item.cid, STATUS.FAILED, item);
    }
  }
}

/** PROTOCOL §8: sync first, then resend the outbox. Call on every (re)connect. */
export async function onReconnect({ syncer, outbox }) {
  await syncer.run();
  await outbox.flush();
}
