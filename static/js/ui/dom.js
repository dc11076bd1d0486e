// Small DOM helpers. Text always goes in through textContent, never innerHTML.

/**
 * Create an element. `props`: class, text, dataset, on (event handlers), attrs, and any
 * property or aria-/data- attribute by name. Children are nodes or strings (as text).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'on') for (const [name, fn] of Object.entries(value)) el.addEventListener(name, fn);
    else if (key === 'attrs') for (const [name, v] of Object.entries(value)) el.setAttribute(name, String(v));
    else if (key.startsWith('aria-') || key.startsWith('data-') || key === 'role' || key === 'for') el.setAttribute(key, String(value));
    else if (key in el) el[key] = value;
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Set text only when it changed (keeps selection and avoids layout work). */
export function setText(el, text) {
  const value = text ?? '';
  if (el.textContent !== value) el.textContent = value;
}

/** Set or remove an attribute. */
export function setAttr(el, name, value) {
  if (value === null || value === undefined || value === false) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== String(value)) {
    el.setAttribute(name, String(value));
  }
}

/**
 * Make `container`'s children match `items` in order, reusing elements by key so focus,
 * images and scroll positions survive. create(item) → element; update(element, item).
 */
export function reconcile(container, items, { key, create, update }) {
  const existing = new Map();
  for (const child of container.children) if (child.dataset.key) existing.set(child.dataset.key, child);
  const wanted = new Set();
  let index = 0;
  for (const item of items) {
    const k = key(item);
    wanted.add(k);
    let el = existing.get(k);
    if (!el) {
      el = create(item);
      el.dataset.key = k;
    }
    update(el, item);
    const at = container.children[index];
    if (at !== el) container.insertBefore(el, at || null);
    index += 1;
  }
  for (const [k, el] of existing) if (!wanted.has(k)) el.remove();
}

/** A stable colour slot (0-7) for a name's avatar. */
export function avatarSlot(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % 8;
}

/** Initials for an avatar: the first character of the name (or two parts). */
export function initials(name) {
  const parts = name.split(/[._-]+/).filter(Boolean);
  const letters = parts.length > 1 ? [...parts[0]][0] + [...parts[1]][0] : [...name].slice(0, 2).join('');
  return letters.toUpperCase();
}

/** An avatar circle with initials and an optional presence dot. */
export function avatar(name, { presence = null, size = 'md' } = {}) {
  const el = h('span', { class: `avatar avatar-${size} avatar-c${avatarSlot(name)}`, 'aria-hidden': 'true' }, initials(name));
  if (presence !== null) {
    el.append(h('span', { class: 'presence-dot', dataset: { testid: 'presence-dot', online: String(Boolean(presence)) } }));
  }
  return el;
}

/** Update an avatar made by avatar(). */
export function updateAvatar(el, name, presence = null) {
  el.className = el.className.replace(/avatar-c\d/, `avatar-c${avatarSlot(name)}`);
  const text = el.firstChild;
  if (text && text.nodeType === Node.TEXT_NODE) setText(text, initials(name));
  const dot = el.querySelector('.presence-dot');
  if (dot && presence !== null) setAttr(dot, 'data-online', String(Boolean(presence)));
}
