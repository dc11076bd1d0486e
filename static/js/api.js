// HTTP API client (PROTOCOL §7). The only module that calls fetch (and XMLHttpRequest, the
// one browser API that reports upload progress). Every state-changing request carries the
// CSRF token in X-CSRFToken; failures become ApiError objects with a protocol `code`
// ('offline' when the server cannot be reached, 'aborted' when the caller cancelled).

import { t } from './i18n.js';
import { readAll } from './transfer.js';

const JSON_TYPE = 'application/json';
const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** A refused or failed request: `code` is a PROTOCOL §7 error code, or 'offline'. */
export class ApiError extends Error {
  constructor(code, message, status = 0, retryAfter = null) {
    super(message || code);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

const CODE_FOR_STATUS = {
  400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found',
  409: 'conflict', 413: 'too_large', 429: 'rate_limited', 503: 'retry',
};

/** Read the CSRF token a page was rendered with (<meta name="csrf-token">). */
export function csrfFromDocument(doc = globalThis.document) {
  return doc?.querySelector('meta[name="csrf-token"]')?.getAttribute('content') || '';
}

export class Api {
  /**
   * @param {{csrfToken?: string, base?: string, fetchImpl?: typeof fetch}} options
   */
  constructor({ csrfToken = '', base = '', fetchImpl, xhrImpl } = {}) {
    this.csrfToken = csrfToken;
    this.base = base;
    this.fetch = fetchImpl || globalThis.fetch.bind(globalThis);
    this.Xhr = xhrImpl || globalThis.XMLHttpRequest || null;
  }

  /** Replace the token in use (login and register rotate the session). */
  setCsrfToken(token) {
    if (token) this.csrfToken = token;
  }

  /** Send one request; answer the parsed JSON (null for 204), or throw ApiError. */
  async request(method, path, { json, body, headers = {}, raw = false, retried = false, signal = null, onProgress = null } = {}) {
    const init = { method, headers: { Accept: JSON_TYPE, ...headers }, credentials: 'same-origin' };
    if (signal) init.signal = signal;
    if (!SAFE_METHODS.has(method)) init.headers['X-CSRFToken'] = this.csrfToken;
    if (json !== undefined) {
      init.headers['Content-Type'] = JSON_TYPE;
      init.body = JSON.stringify(json);
    } else if (body !== undefined) {
      init.body = body;
    }
    let response;
    try {
      response = await this.fetch(this.base + path, init);
    } catch (err) {
      if (signal?.aborted) throw aborted();
      throw new ApiError('offline', t('The server cannot be reached. Check your connection.'), 0);
    }
    if (response.ok) {
      if (raw) return readBytes(response, onProgress, signal);
      if (response.status === 204) return null;
      const type = response.headers.get('Content-Type') || '';
      return type.includes(JSON_TYPE) ? response.json() : null;
    }
    const error = await errorFrom(response);
    // A stale token (e.g. a page served from the offline cache): fetch a fresh one once.
    if (!retried && error.code === 'forbidden' && /csrf/i.test(error.message) && path !== '/api/csrf') {
      const fresh = await this.csrf().catch(() => null);
      if (fresh) return this.request(method, path, { json, body, headers, raw, retried: true, signal, onProgress });
    }
    throw error;
  }

  // --- account (PROTOCOL §2, §3, §7) ---
  async csrf() {
    const answer = await this.request('GET', '/api/csrf');
    this.setCsrfToken(answer.csrf_token);
    return answer.csrf_token;
  }

  prelogin(username) {
    return this.request('GET', `/api/prelogin?username=${encodeURIComponent(username)}`);
  }

  async register(body) {
    const answer = await this.request('POST', '/api/register', { json: body });
    this.setCsrfToken(answer.csrf_token);
    return answer;
  }

  async login(body) {
    const answer = await this.request('POST', '/api/login', { json: body });
    this.setCsrfToken(answer.csrf_token);
    return answer;
  }

  logout() {
    return this.request('POST', '/api/logout');
  }

  me() {
    return this.request('GET', '/api/me');
  }

  putVault(body) {
    return this.request('PUT', '/api/me/vault', { json: body });
  }

  // --- the account in the user's hands: sessions ("My devices") and deletion ---
  /** {sessions: [{id, device, created, last_seen, current}]}, the current one first. */
  sessions() {
    return this.request('GET', '/api/me/sessions');
  }

  endSession(sessionId) {
    return this.request('DELETE', `/api/me/sessions/${encodeURIComponent(sessionId)}`);
  }

  /** Sign out every other session; answers {ended}. */
  endOtherSessions() {
    return this.request('POST', '/api/me/sessions/end-others');
  }

  /** Delete the account; `auth` proves the password as at login (PROTOCOL §2). */
  deleteAccount(auth) {
    return this.request('DELETE', '/api/me', { json: { auth } });
  }

  // --- people and friends ---
  searchUsers(prefix) {
    return this.request('GET', `/api/users?q=${encodeURIComponent(prefix)}`);
  }

  friends() {
    return this.request('GET', '/api/friends');
  }

  requestFriend(username) {
    return this.request('POST', '/api/friends', { json: { username } });
  }

  acceptFriend(userId) {
    return this.request('POST', `/api/friends/${encodeURIComponent(userId)}/accept`);
  }

  removeFriend(userId) {
    return this.request('DELETE', `/api/friends/${encodeURIComponent(userId)}`);
  }

  keys(userId) {
    return this.request('GET', `/api/users/${encodeURIComponent(userId)}/keys`);
  }

  // --- conversations ---
  conversations() {
    return this.request('GET', '/api/conversations');
  }

  messages(friendId, { before, limit } = {}) {
    const query = new URLSearchParams();
    if (before) query.set('before', String(before));
    if (limit) query.set('limit', String(limit));
    const suffix = query.toString() ? `?${query}` : '';
    return this.request('GET', `/api/conversations/${encodeURIComponent(friendId)}/messages${suffix}`);
  }

  // --- groups (PROTOCOL §9.2) ---
  groups() {
    return this.request('GET', '/api/groups');
  }

  group(groupId) {
    return this.request('GET', `/api/groups/${encodeURIComponent(groupId)}`);
  }

  createGroup(members) {
    return this.request('POST', '/api/groups', { json: { members } });
  }

  addGroupMember(groupId, userId) {
    return this.request('POST', `/api/groups/${encodeURIComponent(groupId)}/members`, { json: { user: userId } });
  }

  /** Remove a member; `userId` = self leaves (§9.2). */
  removeGroupMember(groupId, userId) {
    return this.request('DELETE', `/api/groups/${encodeURIComponent(groupId)}/members/${encodeURIComponent(userId)}`);
  }

  promoteGroupMember(groupId, userId) {
    return this.request('POST', `/api/groups/${encodeURIComponent(groupId)}/admins`, { json: { user: userId } });
  }

  groupMessages(groupId, { before, limit } = {}) {
    const query = new URLSearchParams();
    if (before) query.set('before', String(before));
    if (limit) query.set('limit', String(limit));
    const suffix = query.toString() ? `?${query}` : '';
    return this.request('GET', `/api/groups/${encodeURIComponent(groupId)}/messages${suffix}`);
  }

  // --- attachments (ciphertext only) ---
  /**
   * Upload an attachment's ciphertext for a pair (`to`) or, with {group}, for a group (§9.2).
   * `onProgress(sent, total)` follows the bytes on the wire (XMLHttpRequest upload events:
   * fetch cannot report them); `signal` cancels.
   */
  uploadBlob(friendId, bytes, { group = null, onProgress = null, signal = null } = {}) {
    const query = group !== null ? `group=${encodeURIComponent(group)}` : `to=${encodeURIComponent(friendId)}`;
    const path = `/api/blobs?${query}`;
    const headers = { 'Content-Type': 'application/octet-stream' };
    if (!this.Xhr) return this.request('POST', path, { body: bytes, headers, signal });
    return this.send({ method: 'POST', path, body: bytes, headers, onProgress, signal });
  }

  /** Download an attachment's ciphertext; `onProgress(received, total)` (total: Content-Length or null). */
  downloadBlob(blobId, { onProgress = null, signal = null } = {}) {
    return this.request('GET', `/api/blobs/${encodeURIComponent(blobId)}`, {
      raw: true,
      headers: { Accept: 'application/octet-stream' },
      onProgress,
      signal,
    });
  }

  /** One request through XMLHttpRequest, for its upload progress; answers parsed JSON or throws ApiError. */
  send({ method, path, body, headers = {}, onProgress = null, signal = null, retried = false }) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(aborted());
        return;
      }
      const xhr = new this.Xhr();
      xhr.open(method, this.base + path);
      xhr.withCredentials = true;
      xhr.setRequestHeader('Accept', JSON_TYPE);
      xhr.setRequestHeader('X-CSRFToken', this.csrfToken);
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      const total = body?.byteLength ?? body?.size ?? null;
      if (onProgress && xhr.upload) {
        xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : total);
      }
      const onAbort = () => xhr.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => signal?.removeEventListener('abort', onAbort);
      xhr.onerror = () => {
        settle();
        reject(new ApiError('offline', t('The server cannot be reached. Check your connection.'), 0));
      };
      xhr.ontimeout = xhr.onerror;
      xhr.onabort = () => {
        settle();
        reject(aborted());
      };
      xhr.onload = () => {
        settle();
        const answer = parseJson(xhr.responseText);
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(answer);
          return;
        }
        const error = errorFromParts(xhr.status, xhr.statusText, answer, xhr.getResponseHeader('Retry-After'));
        if (!retried && error.code === 'forbidden' && /csrf/i.test(error.message)) {
          this.csrf().then(
            () => this.send({ method, path, body, headers, onProgress, signal, retried: true }).then(resolve, reject),
            () => reject(error),
          );
          return;
        }
        reject(error);
      };
      xhr.send(body);
    });
  }
}

/** The error a cancelled transfer rejects with. */
function aborted() {
  return new ApiError('aborted', t('Cancelled.'), 0);
}

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null; // a proxy's HTML error page
  }
}

/** A response body as bytes, reporting progress when asked and the body can be streamed. */
async function readBytes(response, onProgress, signal) {
  try {
    if (!onProgress || !response.body?.getReader) return new Uint8Array(await response.arrayBuffer());
    const length = Number(response.headers.get('Content-Length'));
    return await readAll(response.body, Number.isFinite(length) && length > 0 ? length : null, onProgress);
  } catch (err) {
    if (signal?.aborted) throw aborted();
    throw new ApiError('offline', t('The connection broke while downloading. Try again.'), 0);
  }
}

function errorFromParts(status, statusText, body, retryAfter) {
  let code = CODE_FOR_STATUS[status] || (status >= 500 ? 'retry' : status === 0 ? 'offline' : 'bad_request');
  let message = statusText || code;
  if (body && typeof body.error === 'string') code = body.error;
  if (body && typeof body.message === 'string') message = body.message;
  const retry = Number(retryAfter);
  return new ApiError(code, message, status, Number.isFinite(retry) && retry > 0 ? retry : null);
}

/** Turn a non-2xx response into an ApiError, whatever its body holds. */
async function errorFrom(response) {
  let code = CODE_FOR_STATUS[response.status] || (response.status >= 500 ? 'retry' : 'bad_request');
  let message = response.statusText || code;
  try {
    const body = await response.json();
    if (body && typeof body.error === 'string') code = body.error;
    if (body && typeof body.message === 'string') message = body.message;
  } catch {
    // Not JSON (a proxy's error page): keep the status-derived code.
  }
  const retry = Number(response.headers.get('Retry-After'));
  return new ApiError(code, message, response.status, Number.isFinite(retry) && retry > 0 ? retry : null);
}
