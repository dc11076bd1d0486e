// The account dialog (issue 11): change password, My devices, export my history, delete my
// account. Renders and forwards intents; the work is in the functions passed in (main.js
// wires them to session.js, api.js and chat/export.js). Text only through textContent.

import { currentLanguage, t, tn } from '../i18n.js';
import { h, setText } from './dom.js';

/** A session's date and time in the chosen language. */
function formatDate(ms) {
  return new Intl.DateTimeFormat(currentLanguage(), { dateStyle: 'medium', timeStyle: 'short' }).format(ms);
}

function showError(el, err) {
  setText(el, err ? (err.message || String(err)) : '');
  el.hidden = !err;
}

/** Save text as a file through a temporary object URL (a download: nothing leaves the device). */
export function saveFile(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * @param {HTMLDialogElement} dialog
 * @param {{changePassword: (values: object) => Promise<void>, sessions: () => Promise<object[]>,
 *   endSession: (id: number) => Promise<void>, endOthers: () => Promise<number>,
 *   exportHistory: (format: 'json'|'text') => Promise<number>, deleteAccount: (password: string) => Promise<void>,
 *   confirmDelete: () => Promise<boolean>}} intents
 */
export function createAccountDialog(dialog, intents) {
  const $ = (id) => dialog.querySelector(`[data-testid="${id}"]`);
  $('account-close').addEventListener('click', () => dialog.close());

  // --- change password ---
  const passwordForm = $('password-form');
  const fields = { current: $('password-current'), new: $('password-new'), confirm: $('password-confirm') };
  passwordForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const submit = $('password-submit');
    showError($('password-error'), null);
    setText($('password-status'), t('Re-encrypting your key vault…'));
    for (const input of Object.values(fields)) input.removeAttribute('aria-invalid');
    submit.disabled = true;
    try {
      await intents.changePassword({ password: fields.current.value, newPassword: fields.new.value, confirm: fields.confirm.value });
      passwordForm.reset();
      setText($('password-status'), t('Password changed. Your other devices were signed out.'));
      refreshDevices();
    } catch (err) {
      setText($('password-status'), '');
      showError($('password-error'), err);
      const field = fields[err?.field] || (err?.field === 'password' ? fields.current : null);
      if (field) {
        field.setAttribute('aria-invalid', 'true');
        field.focus();
      }
    } finally {
      submit.disabled = false;
    }
  });

  // --- my devices ---
  const list = $('device-list');
  const endOthers = $('devices-end-others');

  function deviceItem(s) {
    const name = s.device || t('Unknown device');
    const times = t('Signed in {created} · last active {seen}', { created: formatDate(s.created), seen: formatDate(s.last_seen) });
    const action = s.current
      ? h('span', { class: 'tag', dataset: { testid: 'device-current' } }, t('This device'))
      : h('button', {
        type: 'button', class: 'button button-ghost button-small', dataset: { testid: 'device-end' },
        'aria-label': t('Sign out {device}, signed in {created}', { device: name, created: formatDate(s.created) }),
        on: { click: () => end(s.id) },
      }, t('Sign out'));
    return h('li', { class: 'device', dataset: { testid: 'device', current: String(s.current), sessionId: String(s.id) } },
      h('div', { class: 'device-main' }, h('span', { class: 'device-name', dataset: { testid: 'device-name' } }, name),
        h('span', { class: 'device-times muted' }, times)),
      action);
  }

  async function refreshDevices() {
    showError($('devices-error'), null);
    try {
      const sessions = await intents.sessions();
      list.replaceChildren(...sessions.map(deviceItem));
      endOthers.disabled = !sessions.some((s) => !s.current);
    } catch (err) {
      showError($('devices-error'), err);
    }
  }

  async function end(id) {
    setText($('devices-status'), '');
    try {
      await intents.endSession(id);
      setText($('devices-status'), t('That device was signed out.'));
    } catch (err) {
      showError($('devices-error'), err);
    }
    await refreshDevices();
  }

  endOthers.addEventListener('click', async () => {
    setText($('devices-status'), '');
    endOthers.disabled = true;
    try {
      const ended = await intents.endOthers();
      setText($('devices-status'), tn('{count} other device was signed out.', '{count} other devices were signed out.', ended));
    } catch (err) {
      showError($('devices-error'), err);
    }
    await refreshDevices();
  });

  // --- export ---
  for (const format of ['json', 'text']) {
    const button = $(`export-${format}`);
    button.addEventListener('click', async () => {
      showError($('export-error'), null);
      setText($('export-status'), t('Decrypting your history on this device…'));
      button.disabled = true;
      try {
        const count = await intents.exportHistory(format);
        setText($('export-status'), tn('Saved {count} message.', 'Saved {count} messages.', count));
      } catch (err) {
        setText($('export-status'), '');
        showError($('export-error'), err);
      } finally {
        button.disabled = false;
      }
    });
  }

  // --- delete ---
  const deleteForm = $('delete-form');
  const deletePassword = $('delete-password');
  deleteForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError($('delete-error'), null);
    deletePassword.removeAttribute('aria-invalid');
    if (!deletePassword.value) {
      showError($('delete-error'), new Error(t('Enter your password.')));
      deletePassword.setAttribute('aria-invalid', 'true');
      deletePassword.focus();
      return;
    }
    if (!(await intents.confirmDelete())) return;
    const submit = $('delete-submit');
    submit.disabled = true;
    try {
      await intents.deleteAccount(deletePassword.value);
    } catch (err) {
      showError($('delete-error'), err);
      deletePassword.setAttribute('aria-invalid', 'true');
      deletePassword.focus();
    } finally {
      submit.disabled = false;
    }
  });

  dialog.addEventListener('close', () => {
    passwordForm.reset();
    deleteForm.reset();
  });

  return {
    open() {
      for (const id of ['password-error', 'devices-error', 'export-error', 'delete-error']) showError($(id), null);
      for (const id of ['password-status', 'devices-status', 'export-status']) setText($(id), '');
      if (!dialog.open) dialog.showModal();
      refreshDevices();
    },
    close() {
      if (dialog.open) dialog.close();
    },
  };
}
