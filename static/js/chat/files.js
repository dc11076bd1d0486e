// Attachments (PROTOCOL §5 `file`, §7 blobs): encrypt and upload a file, then send its `file`
// message; download, decrypt and check one to show it. Decrypted bytes live only behind
// blob: URLs, revoked as soon as their conversation is no longer shown.

import { safeFileName } from '../encoding.js';
import { STATUS } from '../outbox.js';
import { readPlain } from './plaintext.js';

const MAX_PREVIEW_BYTES = 20 * 1000 * 1000;
/** Image types shown inline; anything else (SVG included) is offered as a download. */
export const PREVIEWABLE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp']);

export class Files {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.uploads = new Map(); // cid → {key, file} of attachments not yet sent
    this.attachments = new Map(); // blob id → {key, job: Promise<{url, bytes}>}
    this.previews = new Map(); // conversation key → Set of own file records holding a local blob: URL
  }

  /**
   * Send an attachment (§5): encrypt with a fresh file key, upload the ciphertext, then send
   * a `file` message. The item shows at once; a failed upload can be retried.
   */
  async send(key, file, { cid = null, confirmed = false } = {}) {
    const c = this.client;
    const kind = c.kindOf(key);
    const seal = kind.sealer(key, { confirmed, attachment: true });
    const id = cid || c.crypto.newCid();
    const conv = c.parts.conversations.get(key);
    const mime = (file.type || 'application/octet-stream').toLowerCase();
    const localUrl = PREVIEWABLE.has(mime) && typeof URL?.createObjectURL === 'function' ? URL.createObjectURL(file) : null;
    this.uploads.set(id, { key, file });
    const created = c.now();
    const seq = c.parts.sending.nextSeq(created);
    const pending = { name: safeFileName(file.name), mime, size: file.size, localUrl, uploading: true };
    if (localUrl) this.keepPreview(key, pending);
    const { message, added } = conv.list.upsert({ id: null, ts: null, cid: id, from: c.me.id, ...kind.messageFields(key), created,
      seq, status: STATUS.SENDING, kind: 'file', file: pending });
    if (!added) { // a retried upload: show it as uploading again
      message.file = pending;
      conv.list.setStatus(id, STATUS.SENDING);
    }
    c.emit('messages', { friendId: key, reason: 'append', own: true });
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const sealed = await c.crypto.encryptFile(bytes);
      const { blob } = await kind.upload(key, sealed.ct);
      const plain = { t: 'file', name: safeFileName(file.name), mime, size: bytes.length, blob, key: sealed.key, n: sealed.n, sha256: sealed.sha256 };
      const env = await seal(plain, id);
      const own = conv.list.get(`${c.me.id}:${id}`);
      const shown = pending.localUrl; // null when the conversation was left meanwhile (revoked)
      if (own) {
        own.file = { ...readPlain(plain).file, localUrl: shown };
        if (shown) this.keepPreview(key, own.file);
      }
      this.previews.get(key)?.delete(pending);
      if (shown) this.attachments.set(blob, { key, job: Promise.resolve({ url: shown }) });
      await c.parts.sending.outbox.add(env);
      c.parts.conversations.touch(key, conv);
      c.emit('friends');
    } catch (err) {
      const own = conv.list.setStatus(id, STATUS.FAILED, { error: { code: err.code || 'upload', message: err.message } });
      if (own?.file) own.file.uploading = false;
      c.emit('messages', { friendId: key, reason: 'update' });
      throw err;
    }
    return id;
  }

  /**
   * Download, decrypt and check an attachment; answers a blob: URL, cached per blob while its
   * conversation is shown (see release).
   */
  attachment(file) {
    const c = this.client;
    if (file.localUrl) return Promise.resolve({ url: file.localUrl });
    if (!this.attachments.has(file.blob)) {
      const job = (async () => {
        const ct = await c.api.downloadBlob(file.blob);
        const plain = await c.crypto.decryptFile(ct, file.key, file.n, file.sha256);
        const type = PREVIEWABLE.has(file.mime) ? file.mime : 'application/octet-stream';
        return { url: URL.createObjectURL(new Blob([plain], { type })), size: plain.length };
      })();
      job.catch(() => this.attachments.delete(file.blob));
      this.attachments.set(file.blob, { key: c.parts.conversations.activeId, job });
    }
    return this.attachments.get(file.blob).job;
  }

  /** Remember an own file record showing a local preview URL (revoked with its conversation). */
  keepPreview(key, record) {
    if (!this.previews.has(key)) this.previews.set(key, new Set());
    this.previews.get(key).add(record);
  }

  /**
   * Revoke the decrypted-attachment blob: URLs of every conversation but `keepKey`
   * (null: all): they are no longer shown, and a URL keeps its plaintext alive until revoked.
   * Shown again later, an attachment is downloaded and decrypted again.
   */
  release(keepKey = null) {
    const revoke = (url) => {
      if (typeof URL?.revokeObjectURL === 'function') URL.revokeObjectURL(url);
    };
    for (const [blob, entry] of this.attachments) {
      if (keepKey !== null && entry.key === keepKey) continue;
      this.attachments.delete(blob);
      entry.job.then(({ url }) => revoke(url), () => {});
    }
    for (const [key, records] of this.previews) {
      if (keepKey !== null && key === keepKey) continue;
      for (const record of records) {
        if (record.localUrl) revoke(record.localUrl);
        record.localUrl = null;
      }
      this.previews.delete(key);
    }
  }

  /** Show inline without a click: a previewable image of known, moderate size. */
  shouldAutoload(file) {
    return PREVIEWABLE.has(file.mime) && (file.size === null || file.size <= MAX_PREVIEW_BYTES);
  }
}
