// Export my history: every message the server holds for this user (pairs and groups, PROTOCOL
// §8, §9.5), fetched as ciphertext with `sync` from the start and decrypted HERE, then written
// as JSON and as readable text. Nothing decrypted goes to the server; attachments are listed
// by name, not included. No DOM: the UI saves the strings this module answers.

import { t, tn } from '../i18n.js';
import { EVENTS } from '../transport.js';

export const FORMAT = 'sendapp-history';
const PAGE = 500; // the largest `sync` page (§8)
const MAX_PAGES = 10_000; // a bound, never reached by a real history (5 million messages)

const RATE_LIMITED_WAIT_MS = 1000;
const RATE_LIMITED_TRIES = 30;
const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * Every envelope visible to this user, oldest first, fetched page by page with `sync`; a page
 * refused as `rate_limited` (a very long history against SENDAPP_RATELIMIT_SOCKET) is asked
 * again a second later.
 */
export async function fetchAll(request, { progress = () => {}, wait = pause } = {}) {
  const envelopes = [];
  let after = 0;
  let limited = 0;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const ack = await request(EVENTS.SYNC, { after, limit: PAGE });
    if (ack?.ok === false && ack.error === 'rate_limited' && limited < RATE_LIMITED_TRIES) {
      limited += 1;
      await wait(RATE_LIMITED_WAIT_MS);
      continue;
    }
    if (!ack || ack.ok !== true) {
      throw Object.assign(new Error(ack?.message || t('The server refused to list your messages.')), { code: ack?.error || 'retry' });
    }
    const messages = ack.messages || [];
    envelopes.push(...messages);
    progress(envelopes.length);
    if (!ack.more || !messages.length) break;
    after = Math.max(after, ...messages.map((m) => m.id));
  }
  return envelopes;
}

/** One decrypted message as the export shows it (no attachment key or blob id). */
function entryOf(env, read, nameOf) {
  const base = { id: env.id, ts: env.ts, from: { id: env.from, username: nameOf(env.from) } };
  if (read.kind === 'text') return { ...base, type: 'text', body: read.body, sent: read.sent };
  if (read.kind === 'file') return { ...base, type: 'file', file: { name: read.file.name, mime: read.file.mime, size: read.file.size } };
  if (read.kind === 'system' && read.update) {
    const { name, members, admins } = read.update;
    return { ...base, type: 'group', name, members, admins };
  }
  return { ...base, type: 'error', error: read.error || read.text || t('This message could not be read.') };
}

/**
 * Decrypt every envelope with the chat client's conversation kinds (the same code that shows
 * them) and group them by conversation. Answers the export object (see FORMAT).
 */
export async function buildExport(client, envelopes, { now = Date.now() } = {}) {
  const nameOf = (id) => client.nameOf(id);
  const conversations = new Map();
  for (const env of envelopes) {
    const key = client.keyOfEnvelope(env);
    if (key === null) continue;
    const kind = client.kindOf(key);
    let read;
    try {
      read = kind.read(await kind.open(env));
    } catch {
      read = { kind: 'error', error: t('Could not decrypt this message.') };
    }
    if (!conversations.has(key)) {
      conversations.set(key, Object.hasOwn(env, 'g')
        ? { kind: 'group', group: env.g, title: client.group(key)?.title || t('Group {id}', { id: env.g }), messages: [] }
        : { kind: 'pair', with: { id: key, username: nameOf(key) }, messages: [] });
    }
    conversations.get(key).messages.push(entryOf(env, read, nameOf));
  }
  for (const conv of conversations.values()) conv.messages.sort((a, b) => a.id - b.id);
  return {
    format: FORMAT,
    version: 1,
    exported: now,
    user: { id: client.me.id, username: client.me.username },
    conversations: [...conversations.values()],
  };
}

function when(ms) {
  return Number.isFinite(ms) ? `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC` : '';
}

function lineOf(message) {
  const who = message.from.username;
  if (message.type === 'text') return t('[{when}] {who}: {text}', { when: when(message.ts), who, text: message.body });
  if (message.type === 'file') {
    const fields = { when: when(message.ts), who, name: message.file.name };
    return Number.isFinite(message.file.size)
      ? tn('[{when}] {who} sent a file: {name} ({count} byte, not included)', '[{when}] {who} sent a file: {name} ({count} bytes, not included)', message.file.size, fields)
      : t('[{when}] {who} sent a file: {name} (size unknown, not included)', fields);
  }
  if (message.type === 'group') {
    return t('[{when}] {who} updated the group: name “{name}”', { when: when(message.ts), who, name: message.name });
  }
  return t('[{when}] {who}: (could not decrypt: {error})', { when: when(message.ts), who, error: message.error });
}

/** The export as readable text: one block per conversation, one line per message. */
export function exportText(data) {
  const lines = [t('SendApp history of {username}, exported {when}', { username: data.user.username, when: when(data.exported) }), ''];
  if (!data.conversations.length) lines.push(t('No messages.'));
  for (const conv of data.conversations) {
    lines.push(conv.kind === 'group'
      ? t('== Group: {title} ==', { title: conv.title })
      : t('== Conversation with {username} ==', { username: conv.with.username }));
    for (const message of conv.messages) lines.push(lineOf(message));
    lines.push('');
  }
  return lines.join('\n');
}

/** The export as JSON text (indented, for people and programs alike). */
export function exportJson(data) {
  return `${JSON.stringify(data, null, 2)}\n`;
}

/** Fetch, decrypt and format the whole history: {json, text, count}. */
export async function exportHistory(client, { progress } = {}) {
  const envelopes = await fetchAll(client.request, { progress });
  const data = await buildExport(client, envelopes);
  const count = data.conversations.reduce((sum, conv) => sum + conv.messages.length, 0);
  return { json: exportJson(data), text: exportText(data), count, data };
}
