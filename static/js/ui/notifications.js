// Browser notifications for messages the user is not looking at. Permission is asked only
// from a click on the bell button (a user gesture); the user can mute them again.

import { setAttr } from './dom.js';
import { icon } from './icons.js';

const MUTE_KEY = 'sendapp.notifications.muted';

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
    let label = 'Turn on notifications';
    if (permission === 'granted') label = muted ? 'Turn on notifications' : 'Turn off notifications';
    if (permission === 'denied') label = 'Notifications are blocked in this browser’s site settings';
    if (permission === 'unsupported') label = 'This browser cannot show notifications';
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
    /** Notify about a message when the tab is hidden or unfocused. */
    message(friend, text) {
      if (!supported() || Notification.permission !== 'granted' || muted) return;
      if (document.visibilityState === 'visible' && document.hasFocus()) return;
      try {
        const note = new Notification(friend.username, { body: text, tag: `sendapp-${friend.id}`, icon: '/static/icons/icon-192.png' });
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
