// Three users (alice 1, bob 2, carol 3) with real keys and a ChatClient each, over a fake
// server that keeps one group's membership as PROTOCOL §9.2 and §9.5 say: GET /api/groups,
// `send` with a group envelope checked against the current members (`stale_members`), each
// member receiving only its own entry. Shared by the group tests of tests/js.
import { ChatClient } from '../../../static/js/chat/client.js';
import { b64urlEncode } from '../../../static/js/encoding.js';
import { Keyring } from '../../../static/js/keyring.js';
import { MemoryBackend, Store } from '../../../static/js/store.js';
import { identity } from './chat_setup.mjs';

const NAMES = { 1: 'alice', 2: 'bob', 3: 'carol' };

/** The server's view of groups and messages, as far as these tests need it. */
export class FakeGroupServer {
  constructor() {
    this.keys = new Map(); // user id → [key]
    this.groups = new Map(); // id → {id, created, created_by, members: [{id, role, added, added_by, read_up_to}]}
    this.messages = []; // stored group envelopes (all entries)
    this.clients = new Map(); // user id → ChatClient
    this.nextId = 100;
    this.nextGroup = 7;
    this.holdLive = false; // true: store but do not deliver live (a client that was offline)
    this.log = []; // ['message', id, from] and ['remove', group, user] in the order they happened
  }

  view(group, me) {
    if (!group.members.some((m) => m.id === me)) return null;
    return {
      id: group.id, created: group.created, created_by: group.created_by,
      my_role: group.members.find((m) => m.id === me).role,
      members: group.members.map((m) => ({ ...m, username: NAMES[m.id], key_id: this.keys.get(m.id)[0].id })),
    };
  }

  createGroup(by, memberIds) {
    const id = this.nextGroup++;
    const members = [{ id: by, role: 'admin', added: 1, added_by: by, read_up_to: 0 }];
    for (const m of memberIds) members.push({ id: m, role: 'member', added: 1, added_by: by, read_up_to: 0 });
    const group = { id, created: 1, created_by: by, members };
    this.groups.set(id, group);
    this.emit(group, { change: 'created', user: by, by });
    return group;
  }

  /** `group {id, change, user, by, group}` to every member and to `also` (§9.5). */
  emit(group, { change, user, by }, also = []) {
    const to = new Set([...group.members.map((m) => m.id), ...also]);
    for (const id of to) {
      this.clients.get(id)?.groups.onGroupEvent({ id: group.id, change, user, by, group: this.view(group, id) });
    }
  }

  /** Change membership without any client's intent (another device, or a lying server). */
  addMember(groupId, userId, by = 1, { silent = false } = {}) {
    const group = this.groups.get(groupId);
    group.members.push({ id: userId, role: 'member', added: 2, added_by: by, read_up_to: 0 });
    if (!silent) this.emit(group, { change: 'added', user: userId, by });
  }

  removeMember(groupId, userId) {
    const group = this.groups.get(groupId);
    group.members = group.members.filter((m) => m.id !== userId);
  }

  /** `send` of a group envelope, checked in §9.5's order (idempotency, membership, recipients). */
  send(from, env) {
    const stored = this.messages.find((m) => m.from === from && m.cid === env.cid);
    if (stored) return { ok: true, id: stored.id, ts: stored.ts };
    const group = this.groups.get(env.g);
    if (!group || !group.members.some((m) => m.id === from)) return { ok: false, error: 'not_found', message: 'no such group' };
    const current = group.members.map((m) => m.id).sort((a, b) => a - b);
    const to = env.keys.map((k) => k.to).sort((a, b) => a - b);
    if (JSON.stringify(current) !== JSON.stringify(to)) {
      return { ok: false, error: 'stale_members', message: 'the members changed', members: current };
    }
    const full = { ...env, id: this.nextId++, from, ts: 1_700_000_000_000 };
    this.messages.push(full);
    this.log.push(['message', full.id, from]);
    if (!this.holdLive) for (const entry of full.keys) this.deliver(entry.to, full);
    return { ok: true, id: full.id, ts: full.ts };
  }

  /** What member `to` receives of a stored message: its own entry only (§9.5). */
  copyFor(to, full) {
    return { ...full, keys: full.keys.filter((k) => k.to === to) };
  }

  deliver(to, full) {
    const client = this.clients.get(to);
    if (client) client.parts.receiving.onLive(this.copyFor(to, full));
  }

  api(me) {
    const server = this;
    return {
      keys: async (id) => ({ keys: server.keys.get(id) }),
      groups: async () => ({ groups: [...server.groups.values()].map((g) => server.view(g, me)).filter(Boolean), max_members: 64 }),
      group: async (id) => ({ group: server.view(server.groups.get(id), me) }),
      createGroup: async (members) => ({ group: server.view(server.createGroup(me, members), me) }),
      addGroupMember: async (id, userId) => {
        server.addMember(id, userId, me);
        return { group: server.view(server.groups.get(id), me) };
      },
      removeGroupMember: async (id, userId) => {
        server.log.push(['remove', id, userId]);
        server.removeMember(id, userId);
        const group = server.groups.get(id);
        if (group.members.length && !group.members.some((m) => m.role === 'admin')) group.members[0].role = 'admin';
        return null;
      },
      groupMessages: async (id) => ({
        messages: server.messages.filter((m) => m.g === id && m.keys.some((k) => k.to === me)).map((m) => server.copyFor(me, m)),
        more: false,
      }),
    };
  }
}

class Transport extends EventTarget {
  constructor(server, me) {
    super();
    this.server = server;
    this.me = me;
    this.connected = true;
    this.sent = [];
  }

  on(name, handler) { this.addEventListener(name, (e) => handler(e.detail)); }

  async request(name, data) {
    this.sent.push([name, data]);
    if (name === 'send') return this.server.send(this.me, structuredClone(data));
    return { ok: true };
  }

  notify(name, data) { this.sent.push([name, data]); }

  async connect() {}
}

/** Alice, bob and carol with keys, clients, and the fake server; alice and bob are friends. */
export async function groupSetup() {
  const server = new FakeGroupServer();
  const users = {};
  for (const id of [1, 2, 3]) {
    const ident = await identity();
    server.keys.set(id, [{ id: ident.id, public_key: b64urlEncode(ident.publicRaw), created: 1, current: true }]);
    users[NAMES[id]] = { id, name: NAMES[id], ident };
  }
  for (const user of Object.values(users)) {
    const store = new Store(new MemoryBackend(), user.id);
    await store.saveIdentities([user.ident]);
    const api = server.api(user.id);
    const keyring = new Keyring({ me: user.id, store, api });
    await keyring.load(user.ident.id);
    const transport = new Transport(server, user.id);
    const client = new ChatClient({ me: { id: user.id, username: user.name, keyId: user.ident.id }, api, store, transport, keyring,
      acceptInVault: async (peers) => peers });
    server.clients.set(user.id, client);
    Object.assign(user, { store, keyring, transport, client });
  }
  return { server, users };
}

/**
 * Let queued work (outbox flushes, live deliveries, WebCrypto jobs that finish on other
 * threads) run: wait until no conversation changes for a few timer ticks, at most ~2 s.
 */
export async function settle(clients = []) {
  const tick = () => new Promise((resolve) => { setTimeout(resolve, 5); });
  let quiet = 0;
  let seen = -1;
  for (let i = 0; i < 400 && quiet < 10; i += 1) {
    await tick();
    const now = clients.reduce((n, c) => n + [...c.conversations.values()].reduce((m, conv) => m + conv.list.size, 0), 0);
    quiet = now === seen ? quiet + 1 : 0;
    seen = now;
  }
}

/** The messages of a conversation as [kind, body or text]. */
export function shown(client, key) {
  return client.conv(key).list.list().map((m) => [m.kind, m.body ?? m.text ?? m.error]);
}
