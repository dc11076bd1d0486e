// The group roster rules of PROTOCOL §9.6, pure (no network, no storage, no DOM): whether a
// decrypted `group` message is applied, who is "unconfirmed", and what changed between two
// server listings (shown after a reconnect, §9.5). groups.js keeps the state; this file only
// decides, so the rules live in one place and are tested without a client.

/** What becomes of a `group` message (§9.6). */
export const VERDICT = Object.freeze({
  FIRST: 'first', // nothing applied yet: trusted on first use
  ADMIN: 'admin', // from an admin of the roster applied before it
  SERVER_CHOSE: 'server_chose', // no admin of the applied roster is still listed; the server made the sender admin
  NOT_ADMIN: 'not_admin', // shown, never applied
  OLDER: 'older', // older than the applied roster (history loaded later): shown, never applied
});

export const APPLIED = new Set([VERDICT.FIRST, VERDICT.ADMIN, VERDICT.SERVER_CHOSE]);

/**
 * Judge a `group` message against the roster applied before it.
 * @param {{msgId: number|null, admins: number[]}|null} roster the applied roster, or null
 * @param {{id: number|null, from: number}} message its server id (null while unsent) and sender
 * @param {{id: number, role: string}[]} listed the members the server lists now
 */
export function judgeGroupMessage(roster, message, listed) {
  if (!roster) return VERDICT.FIRST;
  if (message.id != null && roster.msgId != null && message.id <= roster.msgId) return VERDICT.OLDER;
  if (roster.admins.includes(message.from)) return VERDICT.ADMIN;
  const roles = new Map(listed.map((m) => [m.id, m.role]));
  if (!roster.admins.some((id) => roles.has(id)) && roles.get(message.from) === 'admin') return VERDICT.SERVER_CHOSE;
  return VERDICT.NOT_ADMIN;
}

/** Listed members the applied roster does not contain (myself aside): "unconfirmed" (§9.6). */
export function unconfirmedMembers(roster, listed, me) {
  const confirmed = new Set(roster ? roster.members : []);
  return listed.filter((m) => m.id !== me && !confirmed.has(m.id)).map((m) => m.id);
}

/**
 * What differs between two server listings of one group: [{change: 'added'|'gone'|'promoted', user}].
 * Used after a reconnect, when the `group` events missed are not replayed (§9.5).
 */
export function listingChanges(before, after) {
  const old = new Map(before.map((m) => [m.id, m.role]));
  const now = new Map(after.map((m) => [m.id, m.role]));
  const changes = [];
  for (const m of after) {
    if (!old.has(m.id)) changes.push({ change: 'added', user: m.id });
    else if (old.get(m.id) !== 'admin' && m.role === 'admin') changes.push({ change: 'promoted', user: m.id });
  }
  for (const m of before) if (!now.has(m.id)) changes.push({ change: 'gone', user: m.id });
  return changes;
}
