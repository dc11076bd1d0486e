// Sending (PROTOCOL §5, §8): seal a plaintext for its conversation (the kind decides how),
// show it at once as "sending", and hand it to the outbox (outbox.js), which sends, resends
// after a reconnect with the same cid, and reports each delivery state back here.

import { Outbox, STATUS } from '../outbox.js';
import { t } from '../i18n.js';

export class Sending {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.seq = 0; // orders own unsent messages written in the same millisecond
    this.outbox = new Outbox({
      store: client.store,
      request: client.request,
      onStatus: (cid, status, item) => this.onStatus(cid, status, item),
      onUnauthorized: () => client.emit('session', { reason: 'unauthorized' }),
      sealedWithHeldKey: (env) => client.keyring.own.has(env.sk),
      reseal: (env, ack) => {
        const key = client.keyOfOwnEnvelope(env);
        const kind = client.kindOf(key);
        if (!kind.reseal) throw new Error('the server asked to seal again a message that is not a group message');
        return kind.reseal(env, ack);
      },
    });
  }

  /** The order key of an own message written at `created` (ms), before the server gives it an id. */
  nextSeq(created) {
    this.seq += 1;
    return created * 1000 + this.seq;
  }

  /** Show the outbox's unsent items again after a restart, with their last status. */
  async restore() {
    const c = this.client;
    for (const item of await this.outbox.items()) {
      const env = { ...item.envelope, from: c.me.id };
      const message = await c.parts.receiving.toMessage(env);
      const key = c.keyOfOwnEnvelope(item.envelope);
      const conv = c.parts.conversations.get(key);
      const { message: shown, added } = conv.list.upsert({ ...message, id: null, ts: null, created: item.created, seq: item.seq,
        status: item.status, error: item.error });
      if (added) c.kindOf(key).received?.(key, shown, 'restore');
      c.parts.conversations.touch(key, conv);
    }
  }

  canSend(key) {
    return this.client.kindOf(key).mayWrite(key);
  }

  async sendText(key, text, { confirmed = false } = {}) {
    if (!text.trim()) return null;
    return this.sendPlain(key, { t: 'text', body: text, sent: this.client.now() }, { confirmed });
  }

  /** Seal for the conversation as it is now, show at once as "sending", queue in the outbox. */
  async sendPlain(key, plain, { cid = null, confirmed = false } = {}) {
    const c = this.client;
    const seal = c.kindOf(key).sealer(key, { confirmed });
    c.parts.typing.stop();
    const env = await seal(plain, cid);
    return this.queue(key, env, plain);
  }

  async queue(key, env, plain) {
    const c = this.client;
    const conv = c.parts.conversations.get(key);
    const created = c.now();
    const seq = this.nextSeq(created);
    const kind = c.kindOf(key);
    const { message, added } = conv.list.upsert({ id: null, ts: null, cid: env.cid, from: c.me.id, ...kind.messageFields(key),
      created, seq, status: STATUS.SENDING, ...kind.read(plain) });
    if (added) kind.received?.(key, message, 'own');
    c.parts.conversations.touch(key, conv);
    c.emit('messages', { friendId: key, reason: 'append', own: true });
    c.emit('friends');
    await this.outbox.add(env);
    return env.cid;
  }

  onStatus(cid, status, item) {
    const c = this.client;
    const key = c.keyOfOwnEnvelope(item?.envelope);
    const conv = c.parts.conversations.map.get(key);
    if (!conv) return;
    const message = conv.list.setStatus(cid, status, { id: item.id ?? null, ts: item.ts ?? null, error: item.error });
    if (!message) return;
    if (status === STATUS.SENT) {
      c.parts.conversations.touch(key, conv);
      c.kindOf(key).stored?.(key, message);
    }
    c.emit('messages', { friendId: key, reason: 'update' });
    if (status === STATUS.FAILED) {
      const reason = item.error?.message || t('unknown error');
      c.emit('error', { message: t('A message to {name} was refused: {reason}', { name: c.kindOf(key).title(key), reason }) });
    }
  }

  /** Retry a failed message (or a failed upload, kept by uploads.js until its message is queued). */
  async retry(key, cid) {
    const c = this.client;
    if (await c.parts.uploads.holds(cid)) {
      await c.parts.uploads.retry(key, cid);
      return;
    }
    await this.outbox.retry(cid);
  }

  /** Give up on a failed message (or an attachment not yet uploaded). */
  async discard(key, cid) {
    const c = this.client;
    if (await c.parts.uploads.holds(cid)) {
      await c.parts.uploads.cancel(key, cid);
      return;
    }
    await this.outbox.discard(cid);
    const conv = c.parts.conversations.get(key);
    conv.list.remove(`${c.me.id}:${cid}`);
    c.emit('messages', { friendId: key, reason: 'update' });
  }
}
