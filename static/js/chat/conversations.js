// Conversations, whatever their kind: each one's message list and loading state, which one is
// open, its history (newest page, older pages, the local cache when offline) and the
// prefetch that fills the sidebar previews. A conversation is named by its key (pairs.js).

import { MessageList, previewText } from '../timeline.js';

const PAGE = 50;
const PREFETCH_CONCURRENCY = 3;

export class Conversations {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.map = new Map(); // conversation key → {friendId (its key), list, loaded, fromCache, hasMore, loadingOlder, loading}
    this.activeId = null; // the open conversation's key
  }

  /** The conversation named `key`, created empty the first time. */
  get(key) {
    const c = this.client;
    let conv = this.map.get(key);
    if (!conv) {
      conv = {
        friendId: key,
        list: new MessageList({ me: c.me.id, peer: key }),
        loaded: false,
        fromCache: false,
        hasMore: true,
        loadingOlder: false,
        loading: null,
      };
      conv.list.setPeerRead(c.rowOf(key)?.peerReadUpTo || 0);
      this.map.set(key, conv);
    }
    return conv;
  }

  /** Show a conversation (null closes it). Loads its newest page the first time. */
  async open(key) {
    const c = this.client;
    c.parts.typing.stop();
    if (key !== this.activeId) c.parts.files.release(key);
    this.activeId = key;
    c.emit('messages', { friendId: key, reason: 'reset' });
    c.emit('friends');
    if (key === null) return;
    const conv = this.get(key);
    if (!conv.loaded) await this.loadNewest(key);
    c.parts.reads.markRead(key);
  }

  /** Fetch the newest page over HTTP; fall back to cached envelopes when offline. */
  loadNewest(key) {
    const c = this.client;
    const kind = c.kindOf(key);
    const conv = this.get(key);
    if (conv.loading) return conv.loading;
    conv.loading = (async () => {
      try {
        if (conv.list.size === 0) {
          const cached = await kind.cached(key, { limit: PAGE });
          if (cached.length) {
            await c.parts.receiving.ingest(cached, 'cache');
            conv.fromCache = true;
            conv.hasMore = true;
            c.emit('messages', { friendId: key, reason: 'reset' });
          }
        }
        let page;
        try {
          page = await kind.history(key, { limit: PAGE });
        } catch (err) {
          if (err.code === 'offline') return;
          throw err;
        }
        if (conv.fromCache && page.more && page.messages.length) {
          // Cached messages older than this page may have a gap behind them: drop them.
          const oldest = page.messages[0].id;
          for (const m of [...conv.list.list()]) if (m.id != null && m.id < oldest) conv.list.remove(m.key);
        }
        await c.parts.receiving.ingest(page.messages, 'history');
        conv.loaded = true;
        conv.fromCache = false;
        conv.hasMore = page.more;
        conv.loading = null; // before rendering, or an empty conversation shows "Loading messages…" for good
        c.emit('messages', { friendId: key, reason: 'reset' });
        if (key === this.activeId) c.parts.reads.markRead(key);
      } catch (err) {
        c.backgroundError(err);
      } finally {
        if (conv.loading) { // offline or failed: render again so the status does not keep saying "Loading"
          conv.loading = null;
          c.emit('messages', { friendId: key, reason: 'update' });
        }
      }
    })();
    return conv.loading;
  }

  /** Infinite scroll: one older page (HTTP, or the local cache when offline). */
  async loadOlder(key) {
    const c = this.client;
    const kind = c.kindOf(key);
    const conv = this.get(key);
    if (conv.loadingOlder || !conv.hasMore || conv.loading) return false;
    const before = conv.list.oldestId();
    if (!before) {
      conv.hasMore = false;
      return false;
    }
    conv.loadingOlder = true;
    c.emit('messages', { friendId: key, reason: 'loading' });
    try {
      let envs;
      let more;
      try {
        const page = await kind.history(key, { before, limit: PAGE });
        envs = page.messages;
        more = page.more;
      } catch (err) {
        if (err.code !== 'offline') throw err;
        envs = await kind.cached(key, { before, limit: PAGE });
        more = envs.length === PAGE;
      }
      await c.parts.receiving.ingest(envs, conv.fromCache ? 'cache' : 'history');
      conv.hasMore = more;
      return envs.length > 0;
    } catch (err) {
      c.backgroundError(err);
      return false;
    } finally {
      conv.loadingOlder = false;
      c.emit('messages', { friendId: key, reason: 'prepend' });
    }
  }

  /**
   * Prefetch the newest page of conversations with activity, for previews (few at a time).
   * @param {Iterable<[any, object]>} rows conversation key → sidebar row
   */
  prefetch(rows) {
    const c = this.client;
    const queue = [...rows]
      .filter(([key, row]) => row.lastId > 0 && !this.get(key).loaded && !this.get(key).loading)
      .sort(([, a], [, b]) => (b.lastTs || 0) - (a.lastTs || 0))
      .map(([key]) => key);
    const worker = async () => {
      while (queue.length) {
        const key = queue.shift();
        await this.loadNewest(key);
        this.touch(key, this.get(key));
        c.emit('friends');
      }
    };
    for (let i = 0; i < PREFETCH_CONCURRENCY; i += 1) worker();
  }

  /** Keep the conversation's sidebar row (last activity, preview) in step with its messages. */
  touch(key, conv) {
    touchRow(this.client.rowOf(key), conv);
  }

  clear() {
    this.map.clear();
    this.activeId = null;
  }
}

/** Set a sidebar row's last activity and preview from its conversation's newest message. */
export function touchRow(row, conv) {
  const last = conv.list.last();
  if (!row || !last) return;
  const lastTs = last.ts ?? last.created ?? null;
  row.previewFromId = last.from; // a group's preview names its sender (groups.js)
  if (last.kind === 'system' && last.id == null) { // a membership line (§9.6): nobody wrote it
    row.lastTs = Math.max(row.lastTs || 0, lastTs || 0);
    row.preview = previewText(last);
    row.previewOut = false;
  } else if (last.id != null && last.id >= row.lastId) {
    row.lastId = last.id;
    row.lastTs = lastTs;
    row.preview = previewText(last);
    row.previewOut = last.out;
  } else if (last.id == null) {
    row.lastTs = Math.max(row.lastTs || 0, lastTs || 0);
    row.preview = previewText(last);
    row.previewOut = true;
  }
}
