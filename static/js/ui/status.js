// Connection state (always visible) and short notices ("toasts").

import { h, setAttr, setText } from './dom.js';
import { icon } from './icons.js';
import { t } from '../i18n.js';

/** The connection state in a word (functions: the catalogue loads after the modules are evaluated). */
function stateLabel(state, connectedOnce) {
  switch (state) {
    case 'connected': return t('Connected');
    case 'reconnecting': return connectedOnce ? t('Reconnecting…') : t('Connecting…');
    case 'offline': return t('Offline');
    default: return state;
  }
}

/** The banner's sentence for a state that is not "connected". */
function bannerText(state) {
  switch (state) {
    case 'reconnecting': return t('Reconnecting… Messages you write are kept and sent when the connection is back.');
    case 'offline': return t('You are offline. Messages you write are kept and sent when the connection is back.');
    default: return '';
  }
}

/** Show the transport's state in every [data-connection] element and the banner. */
export function bindConnectionState(transport, doc = document) {
  const render = (state) => {
    const text = stateLabel(state, transport.connectedOnce);
    for (const el of doc.querySelectorAll('[data-connection]')) {
      setAttr(el, 'data-state', state);
      const label = el.querySelector('.connection-label');
      if (label) setText(label, text);
      el.title = text;
    }
    const banner = doc.querySelector('[data-testid="connection-banner"]');
    if (banner) {
      banner.hidden = state === 'connected';
      setAttr(banner, 'data-state', state);
      setText(banner.querySelector('.connection-banner-text'), bannerText(state));
    }
  };
  transport.on('state', render);
  render(transport.state);
}

/** A stack of notices; `sticky` ones stay until closed. */
export class Toasts {
  constructor(root) {
    this.root = root;
  }

  show(message, { kind = 'error', sticky = false, timeout = 6000, action = null } = {}) {
    const close = () => toast.remove();
    const toast = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status', dataset: { testid: 'toast' } },
      h('p', { class: 'toast-text', text: message }),
      action ? h('button', { type: 'button', class: 'toast-action', text: action.label, on: { click: () => { close(); action.run(); } } }) : null,
      h('button', { type: 'button', class: 'icon-button toast-close', 'aria-label': t('Dismiss'), on: { click: close } }, icon('close', { size: 16 })));
    // The same notice twice in a row: keep one.
    const last = this.root.lastElementChild;
    if (last && last.querySelector('.toast-text')?.textContent === message) last.remove();
    this.root.append(toast);
    while (this.root.children.length > 4) this.root.firstElementChild.remove();
    if (!sticky) setTimeout(close, timeout);
    return close;
  }
}
