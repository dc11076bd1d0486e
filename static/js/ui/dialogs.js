// Dialogs: the safety number (PROTOCOL §6) with its QR code, and a confirmation prompt.

import { t } from '../i18n.js';
import { h, setText } from './dom.js';

const QR_MODULE = '/vendor/qrcode/qrcode.mjs';
const QR_CELL_PX = 6;
const QR_MARGIN_CELLS = 4;

/**
 * Render text as a QR code image: qrcode-generator draws a GIF data: URL from the matrix,
 * so no markup is ever built from the (digit-only) text.
 */
export async function qrDataUrl(text) {
  const { default: qrcode } = await import(QR_MODULE);
  const qr = qrcode(0, 'M');
  qr.addData(text, 'Numeric');
  qr.make();
  return qr.createDataURL(QR_CELL_PX, QR_CELL_PX * QR_MARGIN_CELLS);
}

/**
 * The safety number dialog: 12 groups of 5 digits and a QR code of them, and what this
 * user's own key id means (it used to sit unexplained under the name).
 */
export function createSafetyDialog(dialog, { myKeyId = null } = {}) {
  const title = dialog.querySelector('[data-testid="safety-title"]');
  const intro = dialog.querySelector('.safety-intro');
  const digits = dialog.querySelector('[data-testid="safety-number"]');
  const qr = dialog.querySelector('[data-testid="safety-qr"]');
  const status = dialog.querySelector('.safety-status');
  const ownKey = dialog.querySelector('[data-testid="safety-own-key"]');
  if (ownKey && myKeyId) {
    setText(ownKey, t('Your key id is {id}. It names the key your messages are sealed with, the same on every device you log in from. It changes only when your password is reset, and your friends are then warned.', { id: myKeyId }));
    ownKey.hidden = false;
  }
  dialog.querySelector('[data-testid="safety-close"]').addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });

  return {
    /** Open for a friend; `compute` answers the 60 digits. */
    async open(friend, compute) {
      setText(title, t('Safety number with {name}', { name: friend.username }));
      setText(intro, t('Compare these numbers with {name}, in person or on a call you trust. If they match on both devices, nobody is intercepting your messages.', { name: friend.username }));
      digits.replaceChildren();
      digits.dataset.value = '';
      qr.hidden = true;
      qr.removeAttribute('src');
      setText(status, t('Computing…'));
      status.hidden = false;
      if (!dialog.open) dialog.showModal();
      try {
        const number = await compute();
        digits.dataset.value = number;
        digits.replaceChildren(...number.split(' ').map((group) => h('span', { class: 'safety-group', text: group })));
        digits.setAttribute('aria-label', t('Safety number: {number}', { number }));
        status.hidden = true;
        qr.src = await qrDataUrl(number.replace(/ /g, ''));
        qr.alt = t('QR code of the safety number with {name}', { name: friend.username });
        qr.hidden = false;
      } catch (err) {
        setText(status, t('Could not compute the safety number: {reason}', { reason: err.message }));
        status.hidden = false;
      }
    },
    close() {
      if (dialog.open) dialog.close();
    },
  };
}

/** A yes/no dialog; answers a Promise<boolean>. */
export function createConfirmDialog(dialog) {
  const title = dialog.querySelector('.confirm-title');
  const text = dialog.querySelector('.confirm-text');
  const ok = dialog.querySelector('[data-testid="confirm-ok"]');
  const cancel = dialog.querySelector('[data-testid="confirm-cancel"]');
  let resolve = null;
  const finish = (value) => {
    if (dialog.open) dialog.close();
    if (resolve) resolve(value);
    resolve = null;
  };
  ok.addEventListener('click', () => finish(true));
  cancel.addEventListener('click', () => finish(false));
  dialog.addEventListener('close', () => finish(false));
  return {
    ask({ heading, body, confirm = 'OK', danger = false }) {
      setText(title, heading);
      setText(text, body);
      setText(ok, confirm);
      ok.classList.toggle('button-danger', danger);
      ok.classList.toggle('button-primary', !danger);
      return new Promise((res) => {
        resolve = res;
        dialog.showModal();
        cancel.focus();
      });
    },
  };
}

/**
 * Accepting a friend's new key: the user types their password, because the accepted key ids
 * are saved in the vault (PROTOCOL §3, §6). `accept(password)` does the work; its error is
 * shown in the dialog, which stays open to try again.
 */
export function createAcceptKeyDialog(dialog) {
  const form = dialog.querySelector('form');
  const text = dialog.querySelector('.accept-key-text');
  const password = dialog.querySelector('[data-testid="accept-key-password"]');
  const error = dialog.querySelector('[data-testid="accept-key-error"]');
  const ok = dialog.querySelector('[data-testid="accept-key-ok"]');
  let accept = null;
  const close = () => {
    password.value = '';
    accept = null;
    if (dialog.open) dialog.close();
  };
  dialog.querySelector('[data-testid="accept-key-cancel"]').addEventListener('click', close);
  dialog.addEventListener('close', () => {
    password.value = '';
    accept = null;
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!accept) return;
    ok.disabled = true;
    error.hidden = true;
    try {
      await accept(password.value);
      close();
    } catch (err) {
      setText(error, err?.message || String(err));
      error.hidden = false;
      password.setAttribute('aria-invalid', 'true');
      password.focus();
    } finally {
      ok.disabled = false;
    }
  });
  return {
    /** Open for a friend; `accept(password)` saves the key, and rejects with a message to show. */
    open(friend, acceptWith) {
      accept = acceptWith;
      setText(text, t('Accept {name}’s new key on all your devices? Do this only after comparing the safety number with {name}. Your password unlocks your key vault, where the accepted keys are kept.', { name: friend.username }));
      error.hidden = true;
      password.value = '';
      password.removeAttribute('aria-invalid');
      if (!dialog.open) dialog.showModal();
      password.focus();
    },
  };
}
