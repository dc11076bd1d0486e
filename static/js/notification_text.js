// What a message notification says. Pure: no DOM, no storage. With "hide message text" on (a
// per-device choice: ui/notifications.js), a notification names who wrote and never what, so
// a locked screen shows the sender only.

import { t } from './i18n.js';

/**
 * The title and body of a notification about a message.
 * @param {{title: string, sender?: string|null, text: string}} about  title: the friend's name
 *   or the group's title; sender: who wrote in a group (null for a pair); text: the preview
 * @param {{hideText?: boolean}} options
 */
export function notificationContent({ title, sender = null, text }, { hideText = false } = {}) {
  if (hideText) return { title, body: sender ? t('New message from {name}', { name: sender }) : t('New message') };
  return { title, body: sender ? t('{name}: {text}', { name: sender, text }) : text };
}
