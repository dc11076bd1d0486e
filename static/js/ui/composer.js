// The composer: Enter sends, Shift+Enter adds a line, the attach button picks files.

import { setText } from './dom.js';
import { t } from '../i18n.js';

const MAX_ROWS_PX = 160;

/**
 * @param {HTMLFormElement} form
 * @param {{send: (text: string) => Promise<void>|void, typing: () => void, attach: (files: File[]) => void}} intents
 */
export function createComposer(form, intents) {
  const input = form.querySelector('[data-testid="composer-input"]');
  const sendButton = form.querySelector('[data-testid="send-button"]');
  const attachButton = form.querySelector('[data-testid="attach-button"]');
  const fileInput = form.querySelector('[data-testid="file-input"]');
  const note = form.parentElement.querySelector('[data-testid="composer-note"]');

  function resize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, MAX_ROWS_PX)}px`;
  }

  function updateButton() {
    sendButton.disabled = input.disabled || !input.value.trim();
  }

  async function submit() {
    const text = input.value;
    if (!text.trim() || input.disabled) return;
    input.value = '';
    resize();
    updateButton();
    try {
      await intents.send(text);
    } catch (err) {
      if (!input.value) input.value = text; // give the text back to fix and resend
      resize();
      updateButton();
      throw err;
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit().catch(() => {});
    input.focus();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit().catch(() => {});
    }
  });
  input.addEventListener('input', () => {
    resize();
    updateButton();
    if (input.value) intents.typing();
  });
  input.addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (files.length) {
      event.preventDefault();
      intents.attach(files);
    }
  });
  attachButton.addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => {
    const files = [...fileInput.files];
    fileInput.value = '';
    if (files.length) intents.attach(files);
  });

  return {
    /** Enable or disable writing; `reason` is shown when disabled. */
    setEnabled(enabled, reason = '') {
      input.disabled = !enabled;
      attachButton.disabled = !enabled;
      input.placeholder = enabled ? t('Message') : t('You cannot write here yet');
      if (note) {
        note.hidden = enabled || !reason;
        setText(note, enabled ? '' : reason);
      }
      updateButton();
    },
    focus() {
      if (!input.disabled) input.focus({ preventScroll: true });
    },
    /** The unsent text (kept per conversation by the caller). */
    draft() {
      return input.value;
    },
    setDraft(text) {
      input.value = text || '';
      resize();
      updateButton();
    },
  };
}
