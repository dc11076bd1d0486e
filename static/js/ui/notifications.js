// Browser notifications for messages the user is not looking at. Permission is asked only
// from a click on the bell button (a user gesture); the user can mute them again. The
// notification settings dialog holds the per-device choice to hide message text (lock screens
// then show the sender only); both choices live in this device's localStorage.

import { notificationContent } from '../notification_text.js';
import { setAttr } from './dom.js';
import { icon } from './icons.js';
import { t } from '../i18n.js';

const MUTE_KEY = 'sendapp.notifications.muted';
/** Per device: notifications name the sender but never show the message text. */
export const HIDE_TEXT_KEY = 'sendapp.notifications.hideText';

function readHideText() {
  try {
    return localStorage.getItem(HIDE_TEXT_KEY) === '1';
  } catch {
    return false;
  }
}

/**
 * The notification settings dialog: one checkbox, saved on this device as soon as it changes.
 * @param {HTMLDialogElement} dialog
 * @param {HTMLButtonElement} opener the button that opens it
 */
export function bindNotificationSettings(dialog, opener) {
  const hideText = dialog.querySelector('[data-testid="hide-notification-text"]');
  dialog.querySelector('[data-testid="notification-settings-close"]').addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });
  hideText.addEventListener('change', () => {
    try {
      localStorage.setItem(HIDE_TEXT_KEY, hideText.checked ? '1' : '0');
    } catch {
      // Storage refused (private mode): the choice lasts for this page only.
    }
  });
  opener.addEventListener('click', () => {
    hideText.checked = readHideText();
    dialog.showModal();
  });
}

function supported() {
  return typeof Notification === 'function';
}

/**
 * @param {HTMLButtonElement} button the bell
 * @param {{open: (friendId: number) => void}} intents
 */
export function createNotifier(button, intents) {
  let muted = localStorage.getItem(MUTE_KEY) === '1';

  /**
   * The label and the icon name what a click does: a bell with a plus turns notifications on,
   * a lit bell means they are on (its label: turn them off); the crossed-out bell is kept for
   * "blocked", where a click can do nothing. No aria-pressed: the label already changes.
   */
  function render() {
    const permission = supported() ? Notification.permission : 'unsupported';
    const on = permission === 'granted' && !muted;
    const blocked = permission === 'denied' || permission === 'unsupported';
    button.replaceChildren(icon(on ? 'bell' : blocked ? 'bellOff' : 'bellPlus', { size: 20 }));
    let label = t('Turn on notifications');
    if (permission === 'granted') label = muted ? t('Turn on notifications') : t('Turn off notifications');
    if (permission === 'denied') label = t('Notifications are blocked in this browser’s site settings');
    if (permission === 'unsupported') label = t('This browser cannot show notifications');
    setAttr(button, 'aria-label', label);
    setAttr(button, 'title', label);
    setAttr(button, 'data-state', on ? 'on' : permission === 'denied' ? 'blocked' : 'off');
    button.disabled = permission === 'unsupported';
  }

  button.addEventListener('click', async () => {
    if (!supported()) return;
    if (Notification.permission === 'default') {
      await Notification.requestPermission();
      muted = false;
    } else if (Notification.permission === 'granted') {
      muted = !muted;
    }
    localStorage.setItem(MUTE_KEY, muted ? '1' : '0');
    render();
  });
  render();

  return {
    /**
     * Notify about a message when the tab is hidden or unfocused; `sender` names who wrote in
     * a group (null for a pair). With "hide message text" on, the text never reaches the system.
     */
    message(friend, { sender = null, text }) {
      if (!supported() || Notification.permission !== 'granted' || muted) return;
      if (document.visibilityState === 'visible' && document.hasFocus()) return;
      const { title, body } = notificationContent({ title: friend.username, sender, text }, { hideText: readHideText() });
      try {
        const note = new Notification(title, { body, tag: `sendapp-${friend.id}`, icon: '/static/icons/icon-192.png' });
        note.onclick = () => {
          window.focus();
          intents.open(friend.id);
          note.close();
        };
      } catch {
        // Some platforms only allow notifications from a service worker; the badge still shows.
      }
    },
  };
}
