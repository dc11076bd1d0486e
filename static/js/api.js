// HTTP API client (PROTOCOL §7). The only module that calls fetch.
// Every state-changing request carries the CSRF token in X-CSRFToken; failures become
// ApiError objects with a protocol `code` ('offline' when the server cannot be reached).

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
  constructor({ csrfToken = '', base = '', fetchImpl } = {}) {
    this.csrfToken = csrfToken;
    this.base = base;
    this.fetch = fetchImpl || globalThis.fetch.bind(globalThis);
  }

  /** Replace the token in use (login and register rotate the session). */
  setCsrfToken(token) {
    if (token) this.csrfToken = token;
  }

  /** Send one request; answer the parsed JSON (null for 204), or throw ApiError. */
  async request(method, path, { json, body, headers = {}, raw = false, retried = false } = {}) {
    const init = { method, headers: { Accept: JSON_TYPE, ...headers }, credentials: 'same-origin' };
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
      throw new ApiError('offline', 'The server cannot be reached. Check your connection.', 0);
    }
    if (response.ok) {
      if (raw) return new Uint8Array(await response.arrayBuffer());
      if (response.status === 204) return null;
      const type = response.headers.get('Content-Type') || '';
      return type.includes(JSON_TYPE) ? response.json() : null;
    }
    const error = await errorFrom(response);
    // A stale token (e.g. a page served from the offline cache): fetch a fresh one once.
    if (!retried && error.code === 'forbidden' && /csrf/i.test(error.message) && path !== '/api/csrf') {
      const fresh = await this.csrf().catch(() => null);
      if (fresh) return this.request(method, path, { json, body, headers, raw, retried: true });
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
  /** Upload an attachment's ciphertext for a pair (`to`) or, with {group}, for a group (§9.2). */
  uploadBlob(friendId, bytes, { group = null } = {}) {
    const query = group !== null ? `group=${encodeURIComponent(group)}` : `to=${encodeURIComponent(friendId)}`;
    return this.request('POST', `/api/blobs?${query}`, {

      body: bytes,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
  }

  downloadBlob(blobId) {
    return this.request('GET', `/api/blobs/${encodeURIComponent(blobId)}`, {
      raw: true,
      headers: { Accept: 'application/octet-stream' },
    });
  }
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
