// The system lines of groups (PROTOCOL §9.6): membership changes from `group` events, from
// applied (or refused) `group` messages and from a new listing after a reconnect. Pure: whole
// sentences through t(), names passed in.

import { t } from '../i18n.js';
import { VERDICT } from './roster.js';

/** The line of a `group` message: applied (with its change), or shown only (§9.6). */
export function updateLine(verdict, sender, update, previousName) {
  if (verdict === VERDICT.NOT_ADMIN) {
    return t('{name} sent a group change but is not an admin, so it was ignored.', { name: sender || t('You') });
  }
  const described = describeUpdate(sender, update, verdict === VERDICT.OLDER ? null : previousName);
  if (verdict === VERDICT.SERVER_CHOSE) {
    return t('The server made {name} an admin after the last admin left. {change}', { name: sender || t('you'), change: described });
  }
  return described;
}

/** The line of one difference between the stored listing and a new one (§9.5). */
export function listingLine(change, name) {
  if (change === 'new') return t('You were added to this group while you were away.');
  if (change === 'added') return t('{name} joined the group while you were away.', { name });
  if (change === 'gone') return t('{name} is no longer in the group.', { name });
  return t('{name} became an admin while you were away.', { name });
}

/** The system line of an applied (or older, shown only) `group` message. */
export function describeUpdate(sender, update, previousName) {
  if (update.name !== (previousName ?? '')) {
    if (!update.name) return sender ? t('{name} removed the group name.', { name: sender }) : t('You removed the group name.');
    return sender ? t('{name} named the group “{group}”.', { name: sender, group: update.name })
      : t('You named the group “{group}”.', { group: update.name });
  }
  return sender ? t('{name} confirmed the members of the group.', { name: sender }) : t('You confirmed the members of the group.');
}

/** The system line of a `group` event (§9.5), or null. */
export function eventLine(change, { me, user, by, name, byName }) {
  switch (change) {
    case 'created':
      return by === me ? t('You created the group.') : t('{by} created the group.', { by: byName });
    case 'added':
      if (by === me) return t('You added {name}.', { name });
      if (user === me) return t('{by} added you.', { by: byName });
      return t('{by} added {name}.', { by: byName, name });
    case 'removed':
      return by === me ? t('You removed {name}.', { name }) : t('{by} removed {name}.', { by: byName, name });
    case 'left':
      return by == null ? t('{name}’s account was deleted.', { name }) : t('{name} left the group.', { name });
    case 'promoted':
      if (by == null) return t('The server made {name} an admin because the last admin left.', { name });
      if (user === me) return t('{by} made you an admin.', { by: byName });
      return by === me ? t('You made {name} an admin.', { name }) : t('{by} made {name} an admin.', { by: byName, name });
    default:
      return null;
  }
}
