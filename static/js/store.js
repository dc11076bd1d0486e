// Local storage: IndexedDB in the browser, an in-memory twin for tests (same interface).
// Holds, per logged-in user ("owner"): identity keys as non-extractable CryptoKeys (cleared
// when the session ends: forgetSecrets), the sync cursor, the outbox, attachments waiting for
// their upload (ciphertext, and their details sealed like a message), peer key tracking, peer
// public keys and a cache of received envelopes (ciphertext only, never plaintext).

import { t } from './i18n.js';

const DB_NAME = 'sendapp';
const DB_VERSION = 2; // 2: the `uploads` store

/** Meta records that hold what must not outlive a session: friend-list snapshot, vault, group names. */
const FORGOTTEN_META = new Set(['snapshot', 'vault', 'groups']);

/** Object stores and their key paths; `indexes` name [index, keyPath] pairs. */
export const SCHEMA = {
  identities: { keyPath: ['owner', 'id'] },
  meta: { keyPath: ['owner', 'name'] },
  outbox: { keyPath: ['owner', 'cid'] },
  uploads: { keyPath: ['owner', 'cid'] },
  peers: { keyPath: ['owner', 'user'] },
  peerKeys: { keyPath: ['owner', 'user', 'id'] },
  envelopes: { keyPath: ['owner', 'id'], indexes: [['byPeer', ['owner', 'peer', 'id']]] },
};

// --- key ordering shared by the memory twin (IndexedDB's order: numbers < strings < arrays) ---
function typeRank(value) {
  if (typeof value === 'number') return 1;
  if (typeof value === 'string') return 2;
  if (Array.isArray(value)) return 3;
  throw new TypeError(`unsupported key part: ${value}`);
}

/** Compare two IndexedDB keys the way indexedDB.cmp does (numbers, strings, arrays). */
export function compareKeys(a, b) {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 3) {
    for (let i = 0; i < Math.min(a.length, b.length); i += 1) {
      const c = compareKeys(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

function keyOf(value, keyPath) {
  return keyPath.map((part) => {
    const v = value[part];
    if (v === undefined || v === null) throw new TypeError(`record lacks key part ${part}`);
    return v;
  });
}

function clone(value) {
  try {
    return structuredClone(value);
  } catch {
    return value; // e.g. a CryptoKey this runtime cannot clone: keep the reference
  }
}

/** The in-memory twin of the IndexedDB backend: same methods, no persistence. */
export class MemoryBackend {
  constructor() {
    this.tables = new Map(Object.keys(SCHEMA).map((name) => [name, new Map()]));
  }

  table(name) {
    const table = this.tables.get(name);
    if (!table) throw new Error(`unknown store ${name}`);
    return table;
  }

  async get(store, key) {
    const row = this.table(store).get(JSON.stringify(key));
    return row === undefined ? undefined : clone(row.value);
  }

  async put(store, value) {
    const key = keyOf(value, SCHEMA[store].keyPath);
    this.table(store).set(JSON.stringify(key), { key, value: clone(value) });
  }

  async putMany(store, values) {
    for (const value of values) await this.put(store, value);
  }

  async delete(store, key) {
    this.table(store).delete(JSON.stringify(key));
  }

  /** Rows whose key (or index key) lies in [lower, upper], in key order; `reverse`, `limit`. */
  async range(store, { index = null, lower, upper, reverse = false, limit = Infinity } = {}) {
    const path = index ? SCHEMA[store].indexes.find(([name]) => name === index)[1] : SCHEMA[store].keyPath;
    const rows = [];
    for (const { value } of this.table(store).values()) {
      let key;
      try {
        key = keyOf(value, path);
      } catch {
        continue; // IndexedDB leaves records without the index's key out of the index
      }
      if (lower !== undefined && compareKeys(key, lower) < 0) continue;
      if (upper !== undefined && compareKeys(key, upper) > 0) continue;
      rows.push({ key, value });
    }
    rows.sort((x, y) => compareKeys(x.key, y.key));
    if (reverse) rows.reverse();
    return rows.slice(0, limit).map((row) => clone(row.value));
  }

  async deleteRange(store, { lower, upper }) {
    for (const [text, { key }] of [...this.table(store).entries()]) {
      if (compareKeys(key, lower) >= 0 && compareKeys(key, upper) <= 0) this.table(store).delete(text);
    }
  }

  async clear(store) {
    this.table(store).clear();
  }
}

function promisify(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

/** The IndexedDB backend: one database, the stores of SCHEMA. */
export class IdbBackend {
  constructor(db) {
    this.db = db;
  }

  static async open(name = DB_NAME, idb = globalThis.indexedDB) {
    if (!idb) throw new Error(t('IndexedDB is not available in this browser.'));
    const request = idb.open(name, DB_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      for (const [store, spec] of Object.entries(SCHEMA)) {
        if (db.objectStoreNames.contains(store)) continue;
        const os = db.createObjectStore(store, { keyPath: spec.keyPath });
        for (const [index, keyPath] of spec.indexes || []) os.createIndex(index, keyPath);
      }
    };
    const db = await promisify(request);
    db.onversionchange = () => db.close(); // let a newer tab upgrade the schema
    return new IdbBackend(db);
  }

  async get(store, key) {
    const tx = this.db.transaction(store, 'readonly');
    return promisify(tx.objectStore(store).get(key));
  }

  async put(store, value) {
    const tx = this.db.transaction(store, 'readwrite');
    tx.objectStore(store).put(value);
    return done(tx);
  }

  async putMany(store, values) {
    if (!values.length) return undefined;
    const tx = this.db.transaction(store, 'readwrite');
    const os = tx.objectStore(store);
    for (const value of values) os.put(value);
    return done(tx);
  }

  async delete(store, key) {
    const tx = this.db.transaction(store, 'readwrite');
    tx.objectStore(store).delete(key);
    return done(tx);
  }

  async range(store, { index = null, lower, upper, reverse = false, limit = Infinity } = {}) {
    const tx = this.db.transaction(store, 'readonly');
    const source = index ? tx.objectStore(store).index(index) : tx.objectStore(store);
    const range = lower !== undefined && upper !== undefined ? IDBKeyRange.bound(lower, upper)
      : lower !== undefined ? IDBKeyRange.lowerBound(lower)
        : upper !== undefined ? IDBKeyRange.upperBound(upper) : undefined;
    const rows = [];
    await new Promise((resolve, reject) => {
      const request = source.openCursor(range, reverse ? 'prev' : 'next');
      request.onerror = () => reject(request.error);
      request.onsuccess = () => {
        const cursor = request.result;
        if (!cursor || rows.length >= limit) {
          resolve();
          return;
        }
        rows.push(cursor.value);
        cursor.continue();
      };
    });
    return rows;
  }

  async deleteRange(store, { lower, upper }) {
    const tx = this.db.transaction(store, 'readwrite');
    tx.objectStore(store).delete(IDBKeyRange.bound(lower, upper));
    return done(tx);
  }

  async clear(store) {
    const tx = this.db.transaction(store, 'readwrite');
    tx.objectStore(store).clear();
    return done(tx);
  }
}

// Upper bound for "every key of this owner": arrays sort after numbers and strings.
const HIGH = [[]];

/** One user's view of the local database. Every record is tagged with `owner`. */
export class Store {
  /**
   * @param {MemoryBackend|IdbBackend} backend
   * @param {number} owner the logged-in user's id
   */
  constructor(backend, owner) {
    this.backend = backend;
    this.owner = owner;
  }

  /** Open the browser database (or the memory twin when `memory` is set). */
  static async open(owner, { memory = false, backend } = {}) {
    const chosen = backend || (memory ? new MemoryBackend() : await IdbBackend.open());
    return new Store(chosen, owner);
  }

  forOwner(owner) {
    return new Store(this.backend, owner);
  }

  ownerRange(store) {
    return { lower: [this.owner], upper: [this.owner, ...HIGH] };
  }

  // --- identity keys (kept for the session; cleared at logout) ---
  /** Save identity records {id, privateKey, publicRaw, created, current}. */
  async saveIdentities(records) {
    await this.backend.putMany('identities', records.map((r) => ({ ...r, owner: this.owner })));
  }

  async identities() {
    return this.backend.range('identities', this.ownerRange('identities'));
  }

  /** Forget every identity key on this device, for every account. */
  async clearIdentities() {
    await this.backend.clear('identities');
  }

  // --- small named values ---
  async getMeta(name, fallback = null) {
    const row = await this.backend.get('meta', [this.owner, name]);
    return row === undefined ? fallback : row.value;
  }

  async setMeta(name, value) {
    await this.backend.put('meta', { owner: this.owner, name, value });
  }

  /** The sync cursor (PROTOCOL §8), or null on a new device. */
  async cursor() {
    return this.getMeta('cursor', null);
  }

  /** Move the cursor forward only; answer the stored value. */
  async advanceCursor(id) {
    const current = await this.cursor();
    if (current !== null && current >= id) return current;
    await this.setMeta('cursor', id);
    return id;
  }

  // --- outbox: envelopes waiting for their ack, in the order they were written ---
  /** Add an item {cid, envelope, seq, status, created}; seq orders the resend. */
  async outboxPut(item) {
    await this.backend.put('outbox', { ...item, owner: this.owner });
  }

  async outboxGet(cid) {
    return this.backend.get('outbox', [this.owner, cid]);
  }

  async outboxList() {
    const rows = await this.backend.range('outbox', this.ownerRange('outbox'));
    return rows.sort((a, b) => a.seq - b.seq);
  }

  async outboxDelete(cid) {
    await this.backend.delete('outbox', [this.owner, cid]);
  }

  // --- attachments waiting for their upload (chat/uploads.js) ---
  /**
   * Keep an attachment until its `file` message is in the outbox: {cid, ct (the encrypted file,
   * a Blob), draft (an envelope sealing its details), seq, created, …}. Never the plaintext.
   */
  async uploadPut(item) {
    await this.backend.put('uploads', { ...item, owner: this.owner });
  }

  async uploadGet(cid) {
    return this.backend.get('uploads', [this.owner, cid]);
  }

  async uploadList() {
    const rows = await this.backend.range('uploads', this.ownerRange('uploads'));
    return rows.sort((a, b) => a.seq - b.seq);
  }

  async uploadDelete(cid) {
    await this.backend.delete('uploads', [this.owner, cid]);
  }

  // --- peer key tracking (PROTOCOL §6: the key ids accepted per friend, {accepted, synced}) ---
  async peer(user) {
    return (await this.backend.get('peers', [this.owner, user])) || null;
  }

  async setPeer(user, record) {
    await this.backend.put('peers', { ...record, owner: this.owner, user });
  }

  /** Every friend's record, as Map(user id → record). */
  async peerRecords() {
    const rows = await this.backend.range('peers', this.ownerRange('peers'));
    return new Map(rows.map(({ owner, user, ...record }) => [user, record]));
  }

  /** Public keys of a user we have fetched: [{id, public_key, created, current}]. */
  async peerKeys(user) {
    return this.backend.range('peerKeys', { lower: [this.owner, user], upper: [this.owner, user, ...HIGH] });
  }

  async savePeerKeys(user, keys) {
    await this.backend.putMany('peerKeys', keys.map((k) => ({ ...k, owner: this.owner, user })));
  }

  // --- cached envelopes (ciphertext as received, for offline start) ---
  /** Cache received envelopes; `peer` names the conversation: the other person, or 'g:<id>' (§9). */
  async cacheEnvelopes(envelopes) {
    const rows = envelopes
      .filter((e) => Number.isInteger(e.id))
      .map((e) => ({ ...e, owner: this.owner, peer: conversationOf(e, this.owner) }));
    await this.backend.putMany('envelopes', rows);
  }

  async envelope(id) {
    return this.backend.get('envelopes', [this.owner, id]);
  }

  /** The newest `limit` cached envelopes of one conversation with ids < before, oldest first. */
  async cachedEnvelopes(peer, { before = Number.MAX_SAFE_INTEGER, limit = 50 } = {}) {
    const rows = await this.backend.range('envelopes', {
      index: 'byPeer', lower: [this.owner, peer, 0], upper: [this.owner, peer, before - 1], reverse: true, limit,
    });
    return rows.reverse().map(strip);
  }

  /** Forget the cached envelopes of one conversation (after an unfriend). */
  async forgetConversation(peer) {
    const rows = await this.backend.range('envelopes', {
      index: 'byPeer', lower: [this.owner, peer, 0], upper: [this.owner, peer, Number.MAX_SAFE_INTEGER],
    });
    for (const row of rows) await this.backend.delete('envelopes', [this.owner, row.id]);
  }

  /** Drop every unsent item of this owner, attachments included (the user chose to log out without sending them). */
  async clearOutbox() {
    await this.backend.deleteRange('outbox', this.ownerRange('outbox'));
    await this.backend.deleteRange('uploads', this.ownerRange('uploads'));
  }

  /**
   * Forget what must not outlive a session, for every account on this device: identity keys,
   * cached ciphertext (messages and this device's copy of the vault), friend-list and group
   * snapshots (group names are message content, §9.3) and peer public keys. Every step is attempted
   * even when one fails. Kept: the outbox and waiting uploads (the user is asked about them at
   * logout, and items sealed under a key the next login does not hold are never sent), the sync cursor and the
   * accepted-key records of friends.
   */
  async forgetSecrets() {
    const steps = [
      () => this.backend.clear('identities'),
      () => this.backend.clear('envelopes'),
      () => this.backend.clear('peerKeys'),
      async () => {
        const rows = await this.backend.range('meta');
        for (const row of rows) {
          if (FORGOTTEN_META.has(row.name)) await this.backend.delete('meta', [row.owner, row.name]);
        }
      },
    ];
    const failures = [];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length) throw failures[0];
  }

  /** Delete everything of this owner (identities included). */
  async clearOwner() {
    for (const store of Object.keys(SCHEMA)) {
      await this.backend.deleteRange(store, this.ownerRange(store));
    }
  }
}

/** The conversation an envelope belongs to: 'g:<id>' for a group (§9.4), else the other person. */
function conversationOf(envelope, owner) {
  if (Number.isInteger(envelope.g)) return `g:${envelope.g}`;
  return envelope.from === owner ? envelope.to : envelope.from;
}

function strip(row) {
  const { owner, peer, ...envelope } = row;
  return envelope;
}
