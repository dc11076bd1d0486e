// The login and register forms: read the fields (by data-field: the inputs have no `name`, so
// nothing can be submitted as a query string), show progress and errors, forward submit.

import { setText } from './dom.js';
import { t } from '../i18n.js';

const STEP_ORDER = {
  login: ['prelogin', 'derive', 'login', 'vault', 'keypair', 'store', 'done'],
  register: ['prelogin', 'derive', 'keypair', 'account', 'store', 'done'],
};

/**
 * @param {HTMLFormElement} form
 * @param {{mode: 'login'|'register', submit: (values: object, progress: Function) => Promise<void>,
 *          onDone: () => void, precheck?: () => string|null}} options
 */
export function bindAuthForm(form, { mode, submit, onDone, precheck = () => null }) {
  const fields = [...form.querySelectorAll('input[data-field]')];
  const button = form.querySelector('button[type="submit"]');
  const formError = form.querySelector('[data-testid="form-error"]');
  const progress = form.querySelector('[data-testid="auth-progress"]');
  const bar = progress.querySelector('progress');
  const label = progress.querySelector('[data-testid="auth-progress-label"]');
  const steps = STEP_ORDER[mode];
  const buttonText = button.textContent;

  function fieldError(name, message) {
    const input = form.querySelector(`input[data-field="${name}"]`);
    const error = form.querySelector(`[data-error-for="${name}"]`);
    if (!input || !error) return false;
    setText(error, message || '');
    error.hidden = !message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    return true;
  }

  function showError(message) {
    setText(formError, message || '');
    formError.hidden = !message;
  }

  function clearErrors() {
    for (const input of fields) fieldError(input.dataset.field, '');
    showError('');
  }

  function setBusy(busy) {
    for (const input of fields) input.readOnly = busy;
    button.disabled = busy;
    form.setAttribute('aria-busy', String(busy));
    progress.hidden = !busy;
    setText(button, busy ? t('Please wait…') : buttonText);
  }

  function onProgress(step, text) {
    const index = steps.indexOf(step);
    bar.max = steps.length - 1;
    bar.value = Math.max(0, index);
    setText(label, text);
    progress.dataset.step = step;
  }

  const blocked = precheck();
  if (blocked) {
    showError(blocked);
    button.disabled = true;
  }

  for (const input of fields) input.addEventListener('input', () => fieldError(input.dataset.field, ''));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    clearErrors();
    const values = Object.fromEntries(fields.map((input) => [input.dataset.field, input.value]));
    setBusy(true);
    try {
      await submit(values, onProgress);
      onDone();
    } catch (err) {
      setBusy(false);
      if (!(err.field && fieldError(err.field, err.message))) showError(err.message || String(err));
      const target = err.field ? form.querySelector(`input[data-field="${err.field}"]`) : fields[fields.length - 1];
      target?.focus();
    }
  });
  // The template ships the button disabled: only now may the form be submitted (by this script).
  if (!blocked) button.disabled = false;
  form.dataset.bound = 'true';
}
