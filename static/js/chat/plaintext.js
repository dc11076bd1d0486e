// What a decrypted plaintext (PROTOCOL §5) may be, and the fields a message shows from it.
// Pure: no DOM, no network, no crypto. Pairs and groups (§9.3) share the `text` and `file` types.

import { safeFileName } from '../encoding.js';
import { t } from '../i18n.js';

/** Validate a decrypted plaintext (§5) into the fields a message shows. */
export function readPlain(plain) {
  if (plain?.t === 'text' && typeof plain.body === 'string') {
    return { kind: 'text', body: plain.body, sent: Number.isFinite(plain.sent) ? plain.sent : null };
  }
  if (plain?.t === 'file' && typeof plain.blob === 'string' && typeof plain.key === 'string'
    && typeof plain.n === 'string' && typeof plain.sha256 === 'string') {
    return {
      kind: 'file',
      file: {
        name: safeFileName(plain.name),
        mime: typeof plain.mime === 'string' ? plain.mime.toLowerCase().slice(0, 100) : 'application/octet-stream',
        size: Number.isFinite(plain.size) ? plain.size : null,
        blob: plain.blob,
        key: plain.key,
        n: plain.n,
        sha256: plain.sha256,
      },
    };
  }
  return { kind: 'error', error: t('This message has a format this app does not know.') };
}
