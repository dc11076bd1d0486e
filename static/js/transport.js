// Socket.IO transport (PROTOCOL §8). The only Socket.IO user; no cryptography here.
// Reconnects automatically and exposes one connection state: connected, reconnecting, offline.

import { t } from './i18n.js';

const CLIENT_URL = '/vendor/socket.io/socket.io.esm.min.js';

/** Event names, mirrored from the server (PROTOCOL §8). */
export const EVENTS = Object.freeze({
  // client → server (all acknowledged)
  SEND: 'send',
  SYNC: 'sync',
  JOIN: 'join',
  TYPING: 'typing',
  READ: 'read',
  // server → client
  MESSAGE: 'message',
  PRESENCE: 'presence',
  FRIENDS: 'friends',
  KEY_CHANGED: 'key_changed',
  SIGNED_OUT: 'signed_out', // this session ended; the server disconnects right after
  GROUP: 'group', // a group's membership changed (PROTOCOL §9.5)
  // typing and read are relayed under the same names
});

export const STATES = Object.freeze({
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  OFFLINE: 'offline',
});

const SERVER_EVENTS = [EVENTS.MESSAGE, EVENTS.PRESENCE, EVENTS.FRIENDS, EVENTS.KEY_CHANGED, EVENTS.SIGNED_OUT, EVENTS.TYPING, EVENTS.READ, EVENTS.GROUP];
const FAILURES_BEFORE_OFFLINE = 3;
const DEFAULT_ACK_TIMEOUT = 15000;

/** A request the transport could not complete; `code` is 'offline' or 'timeout'. */
export class TransportError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
  }
}

/** Use long-polling only when the page or the URL asks for it. */
export function wantsPolling(doc = globalThis.document, loc = globalThis.location) {
  if (doc?.body?.dataset?.forcePolling === 'true') return true;
  try {
    return new URLSearchParams(loc?.search || '').get('polling') === '1';
  } catch {
    return false;
  }
}

/**
 * Events: 'state' (detail: state), 'connect' (every (re)connect, detail: {first}),
 * 'refused' (the server turned the session away), 'resume' (the socket outlived an `offline`
 * event: connected again without a reconnect), and every server event of EVENTS by name.
 */
export class Transport extends EventTarget {
  /**
   * @param {{forcePolling?: boolean, ioFactory?: Function, online?: () => boolean}} options
   */
  constructor({ forcePolling = false, ioFactory = null, online = () => globalThis.navigator?.onLine !== false } = {}) {
    super();
    this.forcePolling = forcePolling;
    this.ioFactory = ioFactory;
    this.online = online;
    this.socket = null;
    this.state = STATES.RECONNECTING;
    this.failures = 0;
    this.connectedOnce = false;
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  get connected() {
    return Boolean(this.socket?.connected);
  }

  /** Open the socket (cookies carry the session) and keep it open. */
  async connect() {
    if (this.socket) return;
    const io = this.ioFactory || (await import(CLIENT_URL)).io;
    const socket = io({
      transports: this.forcePolling ? ['polling'] : ['polling', 'websocket'],
      upgrade: !this.forcePolling,
      withCredentials: true,
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.3,
      timeout: 10000,
    });
    this.socket = socket;
    socket.on('connect', () => {
      this.failures = 0;
      const first = !this.connectedOnce;
      this.connectedOnce = true;
      this.setState(STATES.CONNECTED);
      this.dispatchEvent(new CustomEvent('connect', { detail: { first } }));
    });
    socket.on('disconnect', (reason) => {
      this.setState(this.online() ? STATES.RECONNECTING : STATES.OFFLINE);
      // The server closed us on purpose (logout elsewhere, revoked session): ask before retrying.
      if (reason === 'io server disconnect') this.dispatchEvent(new CustomEvent('refused', { detail: reason }));
    });
    socket.on('connect_error', (err) => {
      this.failures += 1;
      const offline = !this.online() || this.failures >= FAILURES_BEFORE_OFFLINE;
      this.setState(offline ? STATES.OFFLINE : STATES.RECONNECTING);
      // A refusal by the server's connect handler is not retried by Socket.IO itself.
      if (!socket.active) this.dispatchEvent(new CustomEvent('refused', { detail: err?.message || 'refused' }));
    });
    for (const name of SERVER_EVENTS) {
      socket.on(name, (data) => this.dispatchEvent(new CustomEvent(name, { detail: data })));
    }
    globalThis.addEventListener?.('online', () => this.retryNow());
    globalThis.addEventListener?.('offline', () => this.setState(STATES.OFFLINE));
  }

  /** Try again at once (the network came back, or the session was checked and is fine). */
  retryNow() {
    if (!this.socket || this.closed) return;
    if (this.socket.connected) { // the socket outlived an `offline` event (e.g. a short blip)
      const wasDown = this.state !== STATES.CONNECTED;
      this.setState(STATES.CONNECTED);
      if (wasDown) this.dispatchEvent(new CustomEvent('resume'));
      return;
    }
    this.setState(STATES.RECONNECTING);
    this.socket.disconnect();
    this.socket.connect();
  }

  /** Listen to a server event (EVENTS) or 'state'/'connect'/'refused'/'resume'; the handler gets the payload. */
  on(name, handler) {
    const listener = (event) => handler(event.detail);
    this.addEventListener(name, listener);
    return () => this.removeEventListener(name, listener);
  }

  /**
   * Emit an event and wait for its ack. Refuses at once when disconnected, so nothing is
   * buffered by Socket.IO behind the outbox's back.
   */
  request(name, data, { timeout = DEFAULT_ACK_TIMEOUT } = {}) {
    if (!this.connected) return Promise.reject(new TransportError('offline', t('Not connected to the server.')));
    return new Promise((resolve, reject) => {
      this.socket.timeout(timeout).emit(name, data, (err, ack) => {
        if (err) reject(new TransportError('timeout', t('The server did not answer in time.')));
        else resolve(ack);
      });
    });
  }

  /** Emit without caring about the ack (typing); dropped when disconnected. */
  notify(name, data) {
    if (this.connected) this.socket.emit(name, data, () => {});
  }

  /** Close for good: no reconnect, not even when the network comes back. */
  close() {
    this.closed = true;
    this.socket?.disconnect();
  }
}
