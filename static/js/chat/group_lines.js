// The system lines of groups (PROTOCOL §9.6): membership changes from `group` events, from
// applied (or refused) `group` messages and from a new listing after a reconnect. Pure: whole
// sentences through t(), names passed in.

import { t } from '../i18n.js';
import { VERDICT } from './roster.js';

/**
 * The line of a `group` message (§9.6): what an applied one changed against the roster
 * applied before it, or why one was not applied.
 * @param {string} verdict roster.js VERDICT
 * @param {string|null} sender the sender's name, null for me
 * @param {{name, members, admins}} update the message's roster
 * @param {{name, members, admins}|null} previous the roster before it (null: none known)
 * @param {(id: number) => string} nameOf
 */
export function updateLine(verdict, sender, update, previous, nameOf) {
  if (verdict === VERDICT.NOT_ADMIN) {
    return sender ? t('{name} sent a group change but is not an admin, so it was ignored.', { name: sender })
      : t('You sent a group change but are not an admin, so it was ignored.');
  }
  const described = describeUpdate(sender, update, previous, nameOf);
  if (verdict === VERDICT.SERVER_CHOSE) {
    return sender ? t('The server made {name} an admin after the last admin left. {change}', { name: sender, change: described })
      : t('The server made you an admin after the last admin left. {change}', { change: described });
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

/** What an applied (or older, shown only) `group` message says: a new name, or who it confirms joined, left or became admin. */
export function describeUpdate(sender, update, previous, nameOf = String) {
  if (update.name !== (previous?.name ?? '')) {
    if (!update.name) return sender ? t('{name} removed the group name.', { name: sender }) : t('You removed the group name.');
    return sender ? t('{name} named the group “{group}”.', { name: sender, group: update.name })
      : t('You named the group “{group}”.', { group: update.name });
  }
  if (!previous) {
    return sender ? t('{name} confirmed the members of the group.', { name: sender }) : t('You confirmed the members of the group.');
  }
  const names = (ids) => ids.map(nameOf).join(', ');
  const joined = update.members.filter((id) => !previous.members.includes(id));
  let left = previous.members.filter((id) => !update.members.includes(id));
  let admins = update.admins.filter((id) => !previous.admins.includes(id));
  const lines = [];
  if (sender && left.some((id) => nameOf(id) === sender) && admins.length) {
    // The only admin leaving names its successor first (§9.3).
    lines.push(t('{name} is leaving and made {names} admin.', { name: sender, names: names(admins) }));
    left = left.filter((id) => nameOf(id) !== sender);
    admins = [];
  }
  if (joined.length) {
    lines.push(sender ? t('{name} confirmed that {names} joined.', { name: sender, names: names(joined) })
      : t('You confirmed that {names} joined.', { names: names(joined) }));
  }
  if (left.length) {
    lines.push(sender ? t('{name} confirmed that {names} left.', { name: sender, names: names(left) })
      : t('You confirmed that {names} left.', { names: names(left) }));
  }
  if (admins.length) {
    lines.push(sender ? t('{name} confirmed {names} as admin.', { name: sender, names: names(admins) })
      : t('You confirmed {names} as admin.', { names: names(admins) }));
  }
  if (lines.length) return lines.join(' ');
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
