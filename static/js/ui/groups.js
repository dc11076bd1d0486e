// Group dialogs (PROTOCOL §9): "New group" (a name and friends to add) and the group panel
// (name, members with roles and unconfirmed or key-change marks, and the admin actions).
// Render-only: they show the model they are given and forward intents; user text goes in
// through textContent only.

import { t, tn } from '../i18n.js';
import { avatar, h, setText } from './dom.js';
import { icon } from './icons.js';

/** Run an intent from a button: disabled while it runs; its error is shown in `errorEl`. */
async function busy(button, errorEl, run) {
  button.disabled = true;
  errorEl.hidden = true;
  try {
    await run();
    return true;
  } catch (err) {
    setText(errorEl, err?.message || String(err));
    errorEl.hidden = false;
    return false;
  } finally {
    button.disabled = false;
  }
}

/**
 * "New group": a name (optional) and at least one friend.
 * @param {HTMLDialogElement} dialog
 * @param {{create: (name: string, memberIds: number[]) => Promise<void>}} intents
 */
export function createNewGroupDialog(dialog, intents) {
  const form = dialog.querySelector('form');
  const name = dialog.querySelector('[data-testid="new-group-name"]');
  const list = dialog.querySelector('[data-testid="new-group-friends"]');
  const none = dialog.querySelector('[data-testid="new-group-nofriends"]');
  const error = dialog.querySelector('[data-testid="new-group-error"]');
  const create = dialog.querySelector('[data-testid="new-group-create"]');
  const close = () => dialog.open && dialog.close();
  dialog.querySelector('[data-testid="new-group-cancel"]').addEventListener('click', close);
  dialog.querySelector('[data-testid="new-group-close"]').addEventListener('click', close);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const ids = [...list.querySelectorAll('input:checked')].map((box) => Number(box.value));
    if (!ids.length) {
      setText(error, t('Choose at least one friend.'));
      error.hidden = false;
      return;
    }
    if (await busy(create, error, () => intents.create(name.value.trim(), ids))) close();
  });
  return {
    /** Open with the friends that can be added ([{id, username, key_id}]). */
    open(friends) {
      name.value = '';
      error.hidden = true;
      list.replaceChildren(...friends.map((f) => {
        const id = `new-group-friend-${f.id}`;
        return h('li', { class: 'pick', dataset: { testid: 'new-group-friend', username: f.username } },
          h('input', { type: 'checkbox', id, value: String(f.id), disabled: !f.key_id }),
          h('label', { for: id }, avatar(f.username, { size: 'sm' }), h('span', { text: f.username }),
            f.key_id ? null : h('span', { class: 'muted', text: t('no key yet') })));
      }));
      none.hidden = friends.length > 0;
      create.disabled = friends.length === 0;
      dialog.showModal();
      name.focus();
    },
  };
}

/**
 * The group panel: name (admins rename), members (roles, unconfirmed and key marks; safety
 * numbers; admins remove and promote), add a friend (admins), leave (anyone).
 * @param {HTMLDialogElement} dialog
 * @param {{rename, add, remove, promote, leave, safety}} intents each (key, …) => Promise; leave
 *   answers whether the user left (false: they changed their mind)
 */
export function createGroupDialog(dialog, intents) {
  const title = dialog.querySelector('[data-testid="group-dialog-title"]');
  const renameForm = dialog.querySelector('[data-testid="group-rename-form"]');
  const nameInput = dialog.querySelector('[data-testid="group-name-input"]');
  const nameShown = dialog.querySelector('[data-testid="group-name-shown"]');
  const count = dialog.querySelector('[data-testid="group-member-count"]');
  const members = dialog.querySelector('[data-testid="group-members"]');
  const addForm = dialog.querySelector('[data-testid="group-add-form"]');
  const addSelect = dialog.querySelector('[data-testid="group-add-select"]');
  const addButton = dialog.querySelector('[data-testid="group-add-button"]');
  const error = dialog.querySelector('[data-testid="group-error"]');
  const leave = dialog.querySelector('[data-testid="group-leave"]');
  let model = null;

  dialog.querySelector('[data-testid="group-dialog-close"]').addEventListener('click', () => dialog.close());
  renameForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (model) busy(renameForm.querySelector('button'), error, () => intents.rename(model.key, nameInput.value.trim()));
  });
  addForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (model && addSelect.value) busy(addButton, error, () => intents.add(model.key, Number(addSelect.value)));
  });
  leave.addEventListener('click', async () => {
    if (!model) return;
    const key = model.key;
    let left = false;
    const ran = await busy(leave, error, async () => { left = await intents.leave(key); });
    if (ran && left && dialog.open) dialog.close();
  });

  function memberRow(m) {
    const marks = [];
    if (m.role === 'admin') marks.push(h('span', { class: 'tag', dataset: { testid: 'member-admin' }, text: t('Admin') }));
    if (m.unconfirmed) {
      marks.push(h('span', { class: 'tag tag-warning', dataset: { testid: 'member-unconfirmed' },
        title: t('Added, not yet confirmed by an admin’s device'), text: t('Unconfirmed') }));
    }
    if (m.keyWarning) marks.push(h('span', { class: 'tag tag-warning', dataset: { testid: 'member-key-changed' }, text: t('Key changed') }));
    const actions = [];
    if (!m.isMe) {
      actions.push(h('button', { type: 'button', class: 'icon-button', dataset: { testid: 'member-safety' },
        'aria-label': t('Compare the safety number with {name}', { name: m.username }), title: t('Safety number'),
        on: { click: () => intents.safety(m.id) } }, icon('shield', { size: 18 })));
    }
    if (model.isAdmin && !m.isMe && m.role !== 'admin') {
      const promote = h('button', { type: 'button', class: 'button button-ghost button-small', dataset: { testid: 'member-promote' },
        'aria-label': t('Make {name} an admin', { name: m.username }), text: t('Make admin') });
      promote.addEventListener('click', () => busy(promote, error, () => intents.promote(model.key, m.id)));
      actions.push(promote);
    }
    if (model.isAdmin && !m.isMe) {
      const remove = h('button', { type: 'button', class: 'icon-button', dataset: { testid: 'member-remove' },
        'aria-label': t('Remove {name} from the group', { name: m.username }), title: t('Remove from the group') }, icon('userMinus', { size: 18 }));
      remove.addEventListener('click', () => busy(remove, error, () => intents.remove(model.key, m.id)));
      actions.push(remove);
    }
    return h('li', { class: 'member', dataset: { testid: 'group-member', userId: String(m.id), username: m.username, role: m.role,
      unconfirmed: String(Boolean(m.unconfirmed)) } },
    avatar(m.username, { size: 'sm' }),
    h('span', { class: 'member-main' },
      h('span', { class: 'member-name', text: m.isMe ? t('{name} (you)', { name: m.username }) : m.username }),
      h('span', { class: 'member-marks' }, marks)),
    h('span', { class: 'member-actions' }, actions));
  }

  return {
    /** Open for a group model (see render). */
    open(next) {
      error.hidden = true;
      this.render(next);
      if (!dialog.open) dialog.showModal();
    },

    /**
     * Show a group: {key, title, name, isAdmin, members: [{id, username, role, unconfirmed,
     * keyWarning, isMe}], addable: [{id, username}]}. Null closes the panel (the group is gone).
     */
    render(next) {
      if (!next) {
        model = null;
        if (dialog.open) dialog.close();
        return;
      }
      const changedGroup = model?.key !== next.key;
      model = next;
      setText(title, next.title);
      renameForm.hidden = !next.isAdmin;
      nameShown.hidden = next.isAdmin;
      setText(nameShown, next.name ? t('Name: {name}', { name: next.name }) : t('This group has no name; it is shown by its members’ names.'));
      if (changedGroup || document.activeElement !== nameInput) nameInput.value = next.name;
      setText(count, tn('{count} member', '{count} members', next.members.length));
      members.replaceChildren(...next.members.map(memberRow));
      addForm.hidden = !next.isAdmin;
      const chosen = addSelect.value;
      addSelect.replaceChildren(h('option', { value: '', text: next.addable.length ? t('Choose a friend') : t('No other friends to add') }),
        ...next.addable.map((f) => h('option', { value: String(f.id), text: f.username })));
      if (next.addable.some((f) => String(f.id) === chosen)) addSelect.value = chosen;
      addSelect.disabled = !next.addable.length;
      addButton.disabled = !next.addable.length;
    },

    isOpenFor(key) {
      return dialog.open && model?.key === key;
    },
  };
}
