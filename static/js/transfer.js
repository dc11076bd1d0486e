// Attachment transfers (PROTOCOL §5, §7 blobs): the phases an attachment goes through, what
// each one tells the user, and the byte counting behind the percentages. Pure: no DOM, no
// network, no storage. Encryption and decryption are one WebCrypto call each (§5 seals a
// file in one AES-GCM operation), so those phases have no percentage: they are shown as busy,
// never as invented progress.

import { t } from './i18n.js';

/** The phases of an attachment on its way out (encrypting → uploading) or in (downloading → decrypting). */
export const PHASE = Object.freeze({
  ENCRYPTING: 'encrypting',
  QUEUED: 'queued', // kept, next in line behind another upload
  WAITING: 'waiting', // kept on this device until the server can be reached
  UPLOADING: 'uploading',
  DOWNLOADING: 'downloading',
  DECRYPTING: 'decrypting',
  FAILED: 'failed',
});

/** Phases measured in bytes; the others are one indivisible step. */
const MEASURED = new Set([PHASE.UPLOADING, PHASE.DOWNLOADING]);

/** Whole percent of `loaded` out of `total`, clamped to 0..100; null when the total is unknown. */
export function percentOf(loaded, total) {
  if (!Number.isFinite(total) || total <= 0 || !Number.isFinite(loaded)) return null;
  return Math.max(0, Math.min(100, Math.floor((loaded * 100) / total)));
}

/**
 * What a transfer shows: `label` (a whole sentence), `percent` (null: indeterminate) and
 * `busy` (work is going on now, as opposed to waiting or failed).
 * @param {{phase: string, loaded?: number, total?: number, error?: string}} transfer
 */
export function describeTransfer(transfer) {
  const phase = transfer?.phase;
  const percent = MEASURED.has(phase) ? percentOf(transfer.loaded, transfer.total) : null;
  switch (phase) {
    case PHASE.ENCRYPTING:
      return { label: t('Encrypting…'), percent: null, busy: true };
    case PHASE.UPLOADING:
      return { label: percent === null ? t('Uploading…') : t('Uploading {percent} %', { percent }), percent, busy: true };
    case PHASE.QUEUED:
      return { label: t('Waiting to upload'), percent: null, busy: false };
    case PHASE.WAITING:
      return { label: t('Waiting for a connection to upload'), percent: null, busy: false };
    case PHASE.DOWNLOADING:
      return { label: percent === null ? t('Downloading…') : t('Downloading {percent} %', { percent }), percent, busy: true };
    case PHASE.DECRYPTING:
      return { label: t('Decrypting…'), percent: null, busy: true };
    case PHASE.FAILED:
      return { label: transfer.error ? t('Upload failed: {reason}', { reason: transfer.error }) : t('Upload failed.'), percent: null, busy: false };
    default:
      return { label: '', percent: null, busy: false };
  }
}

/**
 * How an upload that did not succeed goes on: 'wait' (offline: retry when the connection is
 * back), 'later' (the server asked to retry: soon, by itself) or 'failed' (the same bytes cannot
 * succeed: the user decides to retry or delete).
 */
export function uploadOutcome(code) {
  if (code === 'offline' || code === 'timeout') return 'wait';
  if (code === 'retry' || code === 'rate_limited') return 'later';
  if (code === 'unauthorized') return 'wait'; // kept for after the next login
  return 'failed';
}

/** Delay before the `attempt`-th automatic retry (1, 2, …): doubling from 2 s, at most 60 s. */
export function retryDelayMs(attempt, { first = 2000, max = 60000 } = {}) {
  const n = Math.max(1, Math.floor(attempt) || 1);
  return Math.min(max, first * 2 ** Math.min(n - 1, 16));
}

/**
 * Call `report(loaded, total)` only when the whole percentage changes (or the total is unknown
 * and `minBytes` more arrived), so 25 MiB of small chunks do not redraw the page thousands of times.
 */
export function progressReporter(report, { minBytes = 64 * 1024 } = {}) {
  let lastPercent = -1;
  let lastLoaded = -Infinity;
  return (loaded, total) => {
    const percent = percentOf(loaded, total);
    if (percent !== null) {
      if (percent === lastPercent) return;
      lastPercent = percent;
    } else {
      if (loaded - lastLoaded < minBytes) return;
      lastLoaded = loaded;
    }
    report(loaded, total);
  };
}

/**
 * Read a response body stream to the end, reporting (loaded, total) after each chunk;
 * `total` is the Content-Length (null when the server did not send one).
 * @param {ReadableStream<Uint8Array>} stream
 */
export async function readAll(stream, total, onProgress = () => {}) {
  const reader = stream.getReader();
  const chunks = [];
  let loaded = 0;
  onProgress(0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
