// Two users (alice 1, bob 2) with real keys, each with a ChatClient over fakes for the network:
// the "server" is the shared public-key table. Shared by the tests of static/js/chat/.
import { ChatClient } from '../../../static/js/chat/client.js';
import * as crypto from '../../../static/js/crypto.js';
import { b64urlEncode } from '../../../static/js/encoding.js';
import { Keyring } from '../../../static/js/keyring.js';
import { MemoryBackend, Store } from '../../../static/js/store.js';

export async function identity() {
  const { privateRaw, publicRaw } = await crypto.generateIdentity();
  const id = await crypto.keyId(publicRaw);
  const { privateKey } = await crypto.importIdentity({ d: b64urlEncode(privateRaw), x: b64urlEncode(publicRaw) });
  return { id, privateKey, publicRaw, created: 1, current: true };
}

export class FakeTransport extends EventTarget {
  constructor() {
    super();
    this.connected = true;
    this.sent = [];
    this.nextId = 100;
    this.acks = [];
  }
  on(name, handler) { this.addEventListener(name, (e) => handler(e.detail)); }
  async request(name, data) {
    this.sent.push([name, data]);
    if (name === 'send') {
      const ack = { ok: true, id: this.nextId++, ts: 1_700_000_000_000 };
      this.acks.push({ ...data, id: ack.id, ts: ack.ts });
      return ack;
    }
    return { ok: true };
  }
  notify(name, data) { this.sent.push([name, data]); }
  async connect() {}
}

/** Two users with keys, each with a client; the "server" is the shared public-key table. */
export async function setup() {
  const keys = new Map(); // user id → [{id, public_key, created, current}]
  const users = {};
  for (const [id, name] of [[1, 'alice'], [2, 'bob']]) {
    const ident = await identity();
    keys.set(id, [{ id: ident.id, public_key: b64urlEncode(ident.publicRaw), created: 1, current: true }]);
    users[name] = { id, name, ident };
  }
  for (const user of Object.values(users)) {
    const store = new Store(new MemoryBackend(), user.id);
    await store.saveIdentities([user.ident]);
    const api = { keys: async (id) => ({ keys: keys.get(id) }) };
    const keyring = new Keyring({ me: user.id, store, api });
    await keyring.load(user.ident.id);
    const transport = new FakeTransport();
    const vault = { peers: new Map(), passwords: [] }; // what acceptInVault saved, as the vault would hold it
    const acceptInVault = async (peers, password) => {
      if (password !== 'right password') throw new Error('Wrong password.');
      vault.passwords.push(password);
      vault.peers = peers;
      return peers;
    };
    const client = new ChatClient({ me: { id: user.id, username: user.name, keyId: user.ident.id }, api, store, transport, keyring, acceptInVault });
    const other = user.id === 1 ? users.bob : users.alice;
    client.applyFriends({ friends: [{ id: other.id, username: other.name, since: 1, online: true, key_id: other.ident.id }] });
    Object.assign(user, { store, keyring, transport, client, vault });
  }
  return { users, keys };
}

/** Bob's message sealed under a key pair the test controls (as a server that inserts a key could). */
export async function sealAs(sender, senderKey, recipientId, recipientPublic, plain, id) {
  const meLo = sender.id < recipientId;
  const [lo, hi] = meLo ? [sender.id, recipientId] : [recipientId, sender.id];
  const [loRaw, hiRaw] = meLo ? [senderKey.publicRaw, recipientPublic] : [recipientPublic, senderKey.publicRaw];
  const pairKey = await crypto.derivePairKey(senderKey.privateKey, recipientPublic, lo, hi, loRaw, hiRaw);
  const header = { from: sender.id, to: recipientId, cid: crypto.newCid(), sk: senderKey.id, rk: null };
  return { header, pairKey };
}
