// Outgoing attachments (PROTOCOL §5 `file`, §7 blobs) as an outbox of their own: the file is
// encrypted once, and the ciphertext waits in the store (store.js `uploads`) until it is
// uploaded, however many reloads and lost connections that takes; only then does its `file`
// message join the message outbox (outbox.js), with the cid it was given when the user sent it.
//
// Nothing here is stored in clear: the record holds the ciphertext and a `draft` envelope, the
// attachment's `file` plaintext sealed for its conversation like a message (blob id still
// empty). It is opened again to add the blob id and sealed anew for the message. A device that
// no longer holds the key of a draft (a password reset) shows it as failed.
//
// One upload at a time, in the order sent (a phone link gains nothing from two at once).

import { safeFileName } from '../encoding.js';
import { t } from '../i18n.js';
import { STATUS } from '../outbox.js';
import { PHASE, progressReporter, retryDelayMs, uploadOutcome } from '../transfer.js';
import { readPlain } from './plaintext.js';

export class Uploads {
  /** @param {import('./client.js').ChatClient} client */
  // Wrapped: a browser's setTimeout called as a method of another object throws.
  constructor(client, { setTimer = (fn, ms) => setTimeout(fn, ms), clearTimer = (id) => clearTimeout(id) } = {}) {
    this.client = client;
    this.setTimer = setTimer;
    this.clearTimer = clearTimer;
    this.jobs = new Map(); // cid → {controller, transfer, key} of attachments this page is working on
    this.cancelled = new Set();
    this.unkept = new Map(); // cid → {file, confirmed, localUrl} of attachments that failed before being kept (retry needs the file)
    this.pumping = null;
    this.again = false;
    this.timer = null;
    this.attempt = 0;
    this.stopped = false;
    this.offline = false; // the last upload could not reach the server
  }

  /** The transfer state of an own attachment not yet sent ({phase, loaded, total, error}), or null. */
  transfer(cid) {
    return this.jobs.get(cid)?.transfer || null;
  }

  /**
   * Send an attachment: show it at once as "encrypting", encrypt it with a fresh file key
   * (one WebCrypto call: no percentage), keep the ciphertext in the store, then upload.
   * Answers the cid once the attachment is kept (not once it is uploaded).
   */
  async send(key, file, { cid = null, confirmed = false, localUrl = null } = {}) {
    const c = this.client;
    const kind = c.kindOf(key);
    const seal = kind.sealer(key, { confirmed, attachment: true }); // throws when nobody can read it
    const id = cid || c.crypto.newCid();
    const created = c.now();
    const seq = c.parts.sending.nextSeq(created);
    const mime = (file.type || 'application/octet-stream').toLowerCase();
    const job = this.track(key, id, { phase: PHASE.ENCRYPTING });
    const conv = c.parts.conversations.get(key);
    const shown = { name: safeFileName(file.name), mime, size: file.size, localUrl, transfer: job.transfer };
    const { message, added } = conv.list.upsert({ id: null, ts: null, cid: id, from: c.me.id, ...kind.messageFields(key), created,
      seq, status: STATUS.SENDING, kind: 'file', file: shown });
    if (!added) {
      message.file = shown;
      conv.list.setStatus(id, STATUS.SENDING);
    }
    c.parts.conversations.touch(key, conv);
    c.emit('messages', { friendId: key, reason: 'append', own: true });
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const sealed = await c.crypto.encryptFile(bytes);
      if (this.cancelled.has(id)) return id;
      const plain = { t: 'file', name: safeFileName(file.name), mime, size: bytes.length, blob: '', key: sealed.key, n: sealed.n, sha256: sealed.sha256 };
      const draft = await seal(plain, id);
      if (this.cancelled.has(id)) return id;
      await c.store.uploadPut({ cid: id, ct: new Blob([sealed.ct]), draft, confirmed, seq, created, state: 'waiting', error: null });
      message.file = { ...readPlain(plain).file, blob: null, localUrl: message.file?.localUrl || null, transfer: job.transfer };
    } catch (err) {
      // Not kept (encryption failed, or the store refused: a full disk): only this page can retry.
      this.unkept.set(id, { file, confirmed, localUrl });
      this.fail(key, id, { code: err.code || 'encrypt', message: err.message });
      return id;
    }
    this.setPhase(id, { phase: this.offline ? PHASE.WAITING : PHASE.QUEUED });
    this.pump();
    return id;
  }

  /** Show the attachments still waiting after a restart (their cid in the outbox: already done). */
  async restore() {
    const c = this.client;
    for (const item of await c.store.uploadList()) {
      if (await c.store.outboxGet(item.cid)) {
        await c.store.uploadDelete(item.cid);
        continue;
      }
      const env = { ...item.draft, from: c.me.id };
      const key = c.keyOfOwnEnvelope(item.draft);
      const message = await c.parts.receiving.toMessage(env);
      const failed = item.state === 'failed' || message.kind !== 'file';
      const transfer = failed ? { phase: PHASE.FAILED, error: item.error?.message || null } : { phase: PHASE.WAITING };
      this.track(key, item.cid, transfer);
      const conv = c.parts.conversations.get(key);
      const file = message.kind === 'file' ? { ...message.file, blob: null, localUrl: null, transfer } : null;
      const error = failed ? (item.error || { code: 'stale_key', message: t('This attachment was sealed with a key this device no longer holds. Send it again.') }) : null;
      conv.list.upsert({ ...message, ...(file ? { file } : {}), id: null, ts: null, created: item.created, seq: item.seq,
        status: failed ? STATUS.FAILED : STATUS.SENDING, error });
      c.parts.conversations.touch(key, conv);
    }
  }

  /** Upload every waiting attachment in order; one run at a time, run again if asked meanwhile. */
  pump() {
    if (this.stopped) return Promise.resolve();
    if (this.pumping) {
      this.again = true;
      return this.pumping;
    }
    this.clearTimer(this.timer);
    this.timer = null;
    this.pumping = (async () => {
      try {
        do {
          this.again = false;
          await this.pumpOnce();
        } while (this.again && !this.stopped);
      } finally {
        this.pumping = null;
      }
    })();
    return this.pumping;
  }

  async pumpOnce() {
    const c = this.client;
    for (const item of await c.store.uploadList()) {
      if (this.stopped) return;
      if (item.state === 'failed' || this.cancelled.has(item.cid)) continue;
      const outcome = await this.uploadOne(item);
      if (outcome === 'wait' || outcome === 'later') {
        this.attempt += 1;
        this.later(outcome === 'later' ? retryDelayMs(1) : retryDelayMs(this.attempt));
        return;
      }
      if (outcome === 'stop') return;
    }
  }

  /** Try again by itself after `ms` (a reconnect tries again sooner). */
  later(ms) {
    if (this.timer || this.stopped) return;
    this.timer = this.setTimer(() => {
      this.timer = null;
      this.pump().catch(() => {});
    }, ms);
  }

  /**
   * Upload one kept attachment with progress, then seal its `file` message (§5) with the blob
   * id and hand it to the outbox. Answers 'done', 'failed', 'wait', 'later' or 'stop'.
   */
  async uploadOne(item) {
    const c = this.client;
    const key = c.keyOfOwnEnvelope(item.draft);
    const kind = c.kindOf(key);
    const job = this.track(key, item.cid, { phase: PHASE.UPLOADING, loaded: 0, total: item.ct.size });
    const controller = new AbortController();
    job.controller = controller;
    this.setPhase(item.cid, job.transfer);
    const onProgress = progressReporter((loaded, total) => {
      job.transfer = { phase: PHASE.UPLOADING, loaded, total: total || item.ct.size };
      const own = c.parts.conversations.map.get(key)?.list.get(`${c.me.id}:${item.cid}`);
      if (own?.file) own.file.transfer = job.transfer;
      c.emit('transfer', { friendId: key, cid: item.cid, transfer: job.transfer });
    });
    let blob;
    try {
      ({ blob } = await kind.upload(key, item.ct, { onProgress, signal: controller.signal }));
    } catch (err) {
      if (err?.code === 'aborted' || this.cancelled.has(item.cid)) return 'done';
      if (err?.code === 'unauthorized') {
        this.setPhase(item.cid, { phase: PHASE.WAITING });
        c.emit('session', { reason: 'unauthorized' });
        return 'stop';
      }
      const outcome = uploadOutcome(err?.code);
      if (outcome !== 'failed') {
        this.offline = outcome === 'wait';
        this.relabel(PHASE.QUEUED, PHASE.WAITING);
        this.setPhase(item.cid, { phase: PHASE.WAITING });
        return outcome;
      }
      await this.keepFailed(item, key, { code: err.code, message: err.message });
      return 'failed';
    } finally {
      job.controller = null;
    }
    this.attempt = 0;
    this.offline = false;
    this.relabel(PHASE.WAITING, PHASE.QUEUED); // the others are just in line now
    if (this.cancelled.has(item.cid)) return 'done';
    try {
      const plain = { ...(await kind.open({ ...item.draft, from: c.me.id })), blob };
      const seal = kind.sealer(key, { confirmed: item.confirmed, attachment: true });
      const env = await seal(plain, item.cid);
      if (this.cancelled.has(item.cid)) return 'done';
      await c.parts.sending.outbox.add(env);
      await c.store.uploadDelete(item.cid);
      this.jobs.delete(item.cid);
      const own = c.parts.conversations.get(key).list.get(`${c.me.id}:${item.cid}`);
      if (own) {
        const localUrl = own.file?.localUrl || null;
        own.file = { ...readPlain(plain).file, localUrl };
        if (localUrl) c.parts.files.sentWithPreview(key, blob, localUrl);
      }
      c.emit('messages', { friendId: key, reason: 'update' });
      c.emit('friends');
      return 'done';
    } catch (err) {
      await this.keepFailed(item, key, { code: err.code || 'seal', message: err.message });
      return 'failed';
    }
  }

  async keepFailed(item, key, error) {
    await this.client.store.uploadPut({ ...item, state: 'failed', error });
    this.fail(key, item.cid, error);
  }

  /** Show an attachment as failed (the message line offers retry and delete). */
  fail(key, cid, error) {
    const c = this.client;
    this.track(key, cid, { phase: PHASE.FAILED, error: error.message });
    const own = c.parts.conversations.get(key).list.setStatus(cid, STATUS.FAILED, { error });
    if (own?.file) own.file.transfer = this.transfer(cid);
    c.emit('messages', { friendId: key, reason: 'update' });
    const reason = error.message || t('unknown error');
    c.emit('error', { message: own?.file?.name ? t('{name} was not sent: {reason}', { name: own.file.name, reason })
      : t('An attachment was not sent: {reason}', { reason }) });
  }

  /** Is this cid an attachment of this device not yet handed to the outbox? */
  async holds(cid) {
    return this.unkept.has(cid) || Boolean(await this.client.store.uploadGet(cid));
  }

  /** Put a failed attachment back in line (one that was never kept is encrypted again). */
  async retry(key, cid) {
    const c = this.client;
    const unkept = this.unkept.get(cid);
    if (unkept) {
      this.unkept.delete(cid);
      await this.send(key, unkept.file, { cid, confirmed: unkept.confirmed, localUrl: unkept.localUrl });
      return;
    }
    const item = await c.store.uploadGet(cid);
    if (!item) return;
    await c.store.uploadPut({ ...item, state: 'waiting', error: null });
    this.attempt = 0;
    this.track(key, cid, { phase: PHASE.WAITING });
    const own = c.parts.conversations.get(key).list.setStatus(cid, STATUS.SENDING);
    if (own?.file) own.file.transfer = this.transfer(cid);
    c.emit('messages', { friendId: key, reason: 'update' });
    await this.pump();
  }

  /**
   * Cancel an attachment before its message is sent: stop its upload and forget it. Once its
   * `file` message is in the outbox it is a message like any other (Sending.discard).
   */
  async cancel(key, cid) {
    const c = this.client;
    this.cancelled.add(cid);
    this.unkept.delete(cid);
    this.jobs.get(cid)?.controller?.abort();
    await c.store.uploadDelete(cid);
    this.jobs.delete(cid);
    const conv = c.parts.conversations.get(key);
    const own = conv.list.get(`${c.me.id}:${cid}`);
    if (own?.file?.localUrl) c.parts.files.revoke(own.file.localUrl);
    conv.list.remove(`${c.me.id}:${cid}`);
    c.parts.conversations.touch(key, conv);
    c.emit('messages', { friendId: key, reason: 'update' });
    c.emit('friends');
  }

  /** Upload nothing more (the session ended); the kept attachments stay stored. */
  stop() {
    this.stopped = true;
    this.clearTimer(this.timer);
    this.timer = null;
    for (const job of this.jobs.values()) job.controller?.abort();
  }

  track(key, cid, transfer) {
    let job = this.jobs.get(cid);
    if (!job) {
      job = { key, controller: null, transfer };
      this.jobs.set(cid, job);
    }
    job.key = key;
    job.transfer = transfer;
    return job;
  }

  /** Move every attachment in phase `from` to phase `to` (in line ↔ waiting for a connection). */
  relabel(from, to) {
    for (const [cid, job] of this.jobs) {
      if (job.transfer?.phase === from) this.setPhase(cid, { phase: to });
    }
  }

  /** A new phase: the message shows it (a re-render), unlike progress within a phase. */
  setPhase(cid, transfer) {
    const c = this.client;
    const job = this.jobs.get(cid);
    if (!job) return;
    job.transfer = transfer;
    const own = c.parts.conversations.map.get(job.key)?.list.get(`${c.me.id}:${cid}`);
    if (own?.file) own.file.transfer = transfer;
    c.emit('messages', { friendId: job.key, reason: 'update' });
    c.emit('transfer', { friendId: job.key, cid, transfer });
  }
}
