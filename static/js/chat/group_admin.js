// The group intents (PROTOCOL §9.1-§9.3): create, rename, add, remove, promote and leave,
// each done over HTTP (§9.2) and followed by the `group` message an admin's client MUST send
// (§9.3), so every member's device learns the name and the roster. The only admin leaving
// first names its successor and waits until that message is stored. The state these change
// is groups.js's.

import { codePointLength, groupPlaintext, MAX_NAME_CODE_POINTS } from '../groupcrypto.js';
import { t } from '../i18n.js';

const LEAVE_WAIT_STEPS = 40;
const LEAVE_WAIT_MS = 250;

export class GroupAdmin {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.groups = client.groups;
  }

  /** Create a group with friends and name it; answers its conversation key. */
  async create(name, memberIds) {
    checkName(name); // before creating anything
    const { group } = await this.client.api.createGroup(memberIds);
    const row = this.groups.applyGroup(group);
    await this.client.parts.keys.check();
    await this.announce(row, { name });
    await this.groups.save();
    this.groups.emitChanged(row);
    return row.key;
  }

  async rename(key, name) {
    checkName(name);
    const row = this.adminRow(key);
    await this.announce(row, { name });
  }

  async add(key, userId) {
    const row = this.adminRow(key);
    const { group } = await this.client.api.addGroupMember(row.id, userId);
    this.groups.applyGroup(group);
    await this.client.parts.keys.check();
    await this.announce(row);
    this.groups.emitChanged(row);
  }

  async remove(key, userId) {
    const row = this.adminRow(key);
    await this.client.api.removeGroupMember(row.id, userId);
    const { group } = await this.client.api.group(row.id);
    this.groups.applyGroup(group);
    await this.announce(row);
    this.groups.emitChanged(row);
  }

  async promote(key, userId) {
    const row = this.adminRow(key);
    const { group } = await this.client.api.promoteGroupMember(row.id, userId);
    this.groups.applyGroup(group);
    await this.announce(row);
    this.groups.emitChanged(row);
  }

  /**
   * Leave (§9.1). The only admin first sends a `group` message without itself and with its
   * successor, the oldest other member, as admin (§9.3), and leaves only once it is stored.
   */
  async leave(key) {
    const c = this.client;
    const row = this.groups.row(key);
    if (!row) return;
    const others = row.members.filter((m) => m.id !== c.me.id);
    if (row.myRole === 'admin' && row.admins.length === 1 && others.length) {
      const cid = await this.announce(row, { members: others.map((m) => m.id), admins: [others[0].id] });
      await this.waitStored(cid);
    }
    await c.api.removeGroupMember(row.id, c.me.id);
    this.groups.drop(key);
    await c.store.forgetConversation(key);
    await this.groups.save();
    c.emit('groups', { key, change: 'left' });
    c.emit('friends');
  }

  /** The `group` message an admin's client sends after each change and to rename (§9.3). */
  announce(row, { name = row.name, members = null, admins = null } = {}) {
    const c = this.client;
    const plain = groupPlaintext(name, members || row.members.map((m) => m.id), admins || row.admins, c.now());
    return c.parts.sending.sendPlain(row.key, plain, { confirmed: true });
  }

  async waitStored(cid) {
    const c = this.client;
    for (let i = 0; i < LEAVE_WAIT_STEPS; i += 1) {
      const item = await c.store.outboxGet(cid);
      if (!item) return;
      if (item.status === 'failed') break;
      await new Promise((resolve) => { setTimeout(resolve, LEAVE_WAIT_MS); });
    }
    throw new Error(t('The group could not be told who takes over as admin, so you are still in it. Try again when connected.'));
  }

  adminRow(key) {
    const row = this.groups.row(key);
    if (!row) throw new Error(t('You are not a member of this group.'));
    if (row.myRole !== 'admin') throw new Error(t('Only an admin can do this.'));
    return row;
  }
}

/** A name §9.3 allows: at most 100 code points, no lone surrogate. */
function checkName(name) {
  if (codePointLength(name) > MAX_NAME_CODE_POINTS) {
    throw new Error(t('A group name has at most {max} characters.', { max: MAX_NAME_CODE_POINTS }));
  }
  if (typeof name.isWellFormed === 'function' && !name.isWellFormed()) throw new Error(t('This group name cannot be used.'));
}
