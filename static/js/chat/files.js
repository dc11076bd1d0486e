// Attachments (PROTOCOL §5 `file`, §7 blobs): send one (uploads.js keeps and uploads it), and
// download, decrypt and check one to show it, with progress and cancel. Decrypted bytes live
// only behind blob: URLs, revoked as soon as their conversation is no longer shown.

import { PHASE, progressReporter } from '../transfer.js';

const MAX_PREVIEW_BYTES = 20 * 1000 * 1000;
/** Image types shown inline; anything else (SVG included) is offered as a download. */
export const PREVIEWABLE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp']);

export class Files {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.attachments = new Map(); // blob id → {key, job: Promise<{url, bytes}>, controller, transfer, listeners}
    this.previews = new Map(); // conversation key → Map(cid → local blob: URL) of own images shown from this device
  }

  /**
   * Send an attachment (§5): it shows at once (an image with its local preview), then is
   * encrypted, kept on this device and uploaded (uploads.js); a failed upload can be retried.
   */
  async send(key, file, { cid = null, confirmed = false } = {}) {
    const mime = (file.type || 'application/octet-stream').toLowerCase();
    const localUrl = PREVIEWABLE.has(mime) && typeof URL?.createObjectURL === 'function' ? URL.createObjectURL(file) : null;
    const id = cid || this.client.crypto.newCid();
    if (localUrl) this.keepPreview(key, id, localUrl);
    return this.client.parts.uploads.send(key, file, { cid: id, confirmed, localUrl });
  }

  /** An own image was uploaded as `blob`: show it from its local preview, not a download. */
  sentWithPreview(key, blob, url) {
    this.attachments.set(blob, { key, job: Promise.resolve({ url }), controller: null, transfer: null, listeners: new Set() });
  }

  /**
   * Download, decrypt and check an attachment; answers a blob: URL, cached per blob while its
   * conversation is shown (see release). `onProgress(transfer)` hears each phase and percent
   * (downloading n %, then decrypting); cancel(file) stops it.
   */
  attachment(file, { onProgress = null } = {}) {
    const c = this.client;
    if (file.localUrl) return Promise.resolve({ url: file.localUrl });
    if (!this.attachments.has(file.blob)) {
      const controller = new AbortController();
      const entry = { key: c.parts.conversations.activeId, job: null, controller, transfer: null, listeners: new Set() };
      const tell = (transfer) => {
        entry.transfer = transfer;
        for (const listener of entry.listeners) listener(transfer);
      };
      entry.job = (async () => {
        tell({ phase: PHASE.DOWNLOADING, loaded: 0, total: null });
        const ct = await c.api.downloadBlob(file.blob, {
          signal: controller.signal,
          onProgress: progressReporter((loaded, total) => tell({ phase: PHASE.DOWNLOADING, loaded, total })),
        });
        tell({ phase: PHASE.DECRYPTING });
        const plain = await c.crypto.decryptFile(ct, file.key, file.n, file.sha256);
        const type = PREVIEWABLE.has(file.mime) ? file.mime : 'application/octet-stream';
        entry.controller = null;
        return { url: URL.createObjectURL(new Blob([plain], { type })), size: plain.length };
      })();
      entry.job.catch(() => {
        if (this.attachments.get(file.blob) === entry) this.attachments.delete(file.blob);
      });
      this.attachments.set(file.blob, entry);
    }
    const entry = this.attachments.get(file.blob);
    if (onProgress) {
      entry.listeners.add(onProgress);
      if (entry.transfer) onProgress(entry.transfer);
      entry.job.then(() => entry.listeners.delete(onProgress), () => entry.listeners.delete(onProgress));
    }
    return entry.job;
  }

  /** Stop downloading an attachment (its job rejects with code 'aborted'). */
  cancel(file) {
    this.attachments.get(file.blob)?.controller?.abort();
  }

  revoke(url) {
    if (url && typeof URL?.revokeObjectURL === 'function') URL.revokeObjectURL(url);
  }

  /** Remember an own image shown from a local preview URL (revoked with its conversation). */
  keepPreview(key, cid, url) {
    if (!this.previews.has(key)) this.previews.set(key, new Map());
    this.previews.get(key).set(cid, url);
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
      entry.controller?.abort();
      entry.job.then(({ url }) => revoke(url), () => {});
    }
    for (const [key, urls] of this.previews) {
      if (keepKey !== null && key === keepKey) continue;
      const list = this.client.parts.conversations.map.get(key)?.list;
      for (const [cid, url] of urls) {
        revoke(url);
        const own = list?.get(`${this.client.me.id}:${cid}`);
        if (own?.file?.localUrl === url) own.file.localUrl = null;
      }
      this.previews.delete(key);
    }
  }

  /** Show inline without a click: a previewable image of known, moderate size. */
  shouldAutoload(file) {
    return PREVIEWABLE.has(file.mime) && (file.size === null || file.size <= MAX_PREVIEW_BYTES);
  }
}
