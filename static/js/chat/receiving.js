// Receiving (PROTOCOL §8): envelopes from every source ('live', 'sync', 'history', 'cache')
// into conversations, de-duplicated by cid and id and decrypted in order; failures become
// visible "could not decrypt" items, never silent drops. Owns the sync cursor (outbox.js
// Syncer): live ids move it once any running sync has finished.

import { STATUS, Syncer } from '../outbox.js';
import { t } from '../i18n.js';

export class Receiving {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.syncer = new Syncer({ store: client.store, request: client.request, deliver: (envs) => this.ingest(envs, 'sync') });
  }

  /** A `message` event (§8): show it, then let it move the sync cursor. */
  onLive(env) {
    this.ingest([env], 'live')
      .then(() => (Number.isInteger(env?.id) ? this.syncer.noteLive(env.id) : null))
      .catch((err) => this.client.backgroundError(err));
  }

  /** Decrypt an envelope into a message (its kind opens and reads it); a failure is a visible error item. */
  async toMessage(env) {
    const c = this.client;
    const kind = c.kindOf(c.keyOfEnvelope(env) ?? c.keyOfOwnEnvelope(env));
    const base = { id: env.id ?? null, cid: env.cid, from: env.from, to: env.to, g: env.g, ts: env.ts ?? null, sk: env.sk };
    try {
      const message = { ...base, ...kind.read(await kind.open(env)) };
      if (env.from !== c.me.id) c.parts.keys.judgeIncoming(message, env);
      return message;
    } catch (err) {
      const error = err?.code === 'missing_own_key' ? t('Could not decrypt this message. It uses one of your keys this device does not hold (for example from before a password reset).')
        : err?.code === 'unknown_key' ? t('Could not decrypt this message. It names a key the server does not know.')
          : t('Could not decrypt this message. It may have been altered, or sent with a key that changed.');
      // `reason` lets the view fold a reset's leftovers into one notice (timeline.js collapseSealed).
      return { ...base, kind: 'error', reason: err?.code || 'undecryptable', error };
    }
  }

  /**
   * Take envelopes from any source ('live', 'sync', 'history', 'cache'): de-duplicate by
   * cid and id, decrypt in order, update delivery states, unread counts and previews.
   */
  async ingest(envelopes, source) {
    const c = this.client;
    const { conversations, reads } = c.parts;
    const touched = new Set();
    const fresh = [];
    for (const env of envelopes || []) {
      const key = c.keyOfEnvelope(env);
      if (key === null) continue;
      const conv = conversations.get(key);
      const known = conv.list.get(`${env.from}:${env.cid}`) || (env.id != null ? conv.list.byId.get(env.id) : null);
      const outgoing = env.from === c.me.id;
      let message;
      if (known && known.kind && known.kind !== 'pending') {
        ({ message } = conv.list.upsert({ id: env.id, cid: env.cid, from: env.from, to: env.to, ts: env.ts,
          status: outgoing && env.id != null ? STATUS.DELIVERED : undefined }));
      } else {
        const decrypted = await this.toMessage(env);
        const result = conv.list.upsert({ ...decrypted, status: outgoing ? STATUS.DELIVERED : undefined });
        message = result.message;
        if (result.added) c.kindOf(key).received?.(key, message, source);
        if (result.added && !outgoing && (source === 'live' || source === 'sync')) fresh.push({ key, message });
      }
      if (outgoing && env.id != null) {
        await c.parts.sending.outbox.stored(env.cid);
      }
      if (source !== 'cache' && env.id != null) touched.add(key);
      conversations.touch(key, conv);
    }
    if (source !== 'cache') {
      await c.store.cacheEnvelopes((envelopes || []).filter((e) => Number.isInteger(e?.id)));
    }
    for (const { key, message } of fresh) {
      const row = c.rowOf(key);
      if (!row) continue;
      if (reads.isReading(key)) continue;
      if (message.id > row.readUpTo) row.unread += 1;
      if (message.kind !== 'system') c.emit('notify', { friend: row, message });
    }
    const affected = new Set([...touched, ...fresh.map((f) => f.key)]);
    for (const key of affected) {
      const reason = source === 'history' || source === 'cache' ? 'prepend' : 'append';
      c.emit('messages', { friendId: key, reason });
      if (reads.isReading(key)) reads.markRead(key);
    }
    if (affected.size) c.emit('friends');
  }
}
