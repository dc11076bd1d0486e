// A transfer's progress as the user sees and hears it: a sentence ("Uploading 42 %",
// "Encrypting…") and a bar with role=progressbar. A measured phase sets aria-valuenow; a phase
// done in one step (encryption, decryption) or a wait has no value and says so with
// aria-busy and its text, never with an invented percentage.

import { t } from '../i18n.js';
import { describeTransfer } from '../transfer.js';
import { h, setAttr, setText } from './dom.js';

/** A progress element for the attachment `name`; update it with updateProgress. */
export function createProgress(name) {
  const fill = h('span', { class: 'transfer-fill' });
  const bar = h('span', { class: 'transfer-bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'aria-label': t('Progress of {name}', { name }), dataset: { testid: 'attachment-progress' } }, fill);
  const label = h('span', { class: 'transfer-label', dataset: { testid: 'attachment-progress-label' } });
  return h('span', { class: 'transfer' }, label, bar);
}

/** Show a transfer state ({phase, loaded, total, error}) in an element made by createProgress. */
export function updateProgress(el, transfer) {
  if (!el) return;
  const { label, percent, busy } = describeTransfer(transfer);
  const bar = el.querySelector('[role="progressbar"]');
  setText(el.querySelector('.transfer-label'), label);
  setAttr(bar, 'aria-valuenow', percent === null ? null : String(percent));
  setAttr(bar, 'aria-valuetext', label);
  setAttr(bar, 'aria-busy', busy && percent === null ? 'true' : null);
  setAttr(bar, 'data-phase', transfer?.phase || null);
  setAttr(bar, 'data-state', percent === null ? (busy ? 'indeterminate' : 'idle') : 'measured');
  // CSSOM, not a style attribute: allowed under the strict CSP.
  bar.firstElementChild.style.width = percent === null ? '' : `${percent}%`;
}
