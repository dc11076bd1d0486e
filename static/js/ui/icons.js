// Line icons drawn as SVG from the constant shapes below (never from user data).

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Each icon: a list of [element, attributes] on a 24×24 grid, stroked with currentColor. */
const ICONS = {
  send: [['path', { d: 'M4 12 3 4l18 8-18 8 1-8Z' }], ['path', { d: 'M4 12h8' }]],
  attach: [['path', { d: 'm20.5 11.5-8.2 8.2a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l8-8' }]],
  back: [['path', { d: 'm15 18-6-6 6-6' }]],
  check: [['path', { d: 'm5 12.5 4.5 4.5L19 7.5' }]],
  checks: [['path', { d: 'm2 12.5 4.5 4.5L16 7.5' }], ['path', { d: 'm12.5 16.5.5.5L22.5 7.5' }]],
  clock: [['circle', { cx: 12, cy: 12, r: 8.5 }], ['path', { d: 'M12 7.5V12l3 2' }]],
  alert: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M12 7.5v5.5' }], ['path', { d: 'M12 16.5v.01' }]],
  warning: [['path', { d: 'M12 3.5 21.5 20h-19L12 3.5Z' }], ['path', { d: 'M12 10v4.5' }], ['path', { d: 'M12 17.5v.01' }]],
  shield: [['path', { d: 'M12 3 20 6v6c0 4.8-3.4 8-8 9-4.6-1-8-4.2-8-9V6l8-3Z' }], ['path', { d: 'm8.8 12 2.2 2.2 4.2-4.4' }]],
  bell: [['path', { d: 'M18 9a6 6 0 0 0-12 0c0 6.5-2.5 8-2.5 8h17S18 15.5 18 9Z' }], ['path', { d: 'M10 20.5a2.2 2.2 0 0 0 4 0' }]],
  bellOff: [['path', { d: 'M18 9a6 6 0 0 0-9.4-4.9M6 9c0 6.5-2.5 8-2.5 8H17' }], ['path', { d: 'M10 20.5a2.2 2.2 0 0 0 4 0' }], ['path', { d: 'm3 3 18 18' }]],
  // A bell with a plus: "turn notifications on" (the action), unlike the crossed-out bell ("muted").
  bellPlus: [['path', { d: 'M16.2 4.6A6 6 0 0 0 6 9c0 6.5-2.5 8-2.5 8h17s-1.6-1-2.2-4.3' }], ['path', { d: 'M10 20.5a2.2 2.2 0 0 0 4 0' }],
    ['path', { d: 'M19.5 3v6' }], ['path', { d: 'M16.5 6h6' }]],
  cloudOff: [['path', { d: 'M7 18.5h10.5a4 4 0 0 0 1.9-7.5M16 6.6A6 6 0 0 0 5.6 10.1 4.3 4.3 0 0 0 7 18.5' }], ['path', { d: 'm3 3 18 18' }]],
  logout: [['path', { d: 'M9.5 20.5H5.5a2 2 0 0 1-2-2v-13a2 2 0 0 1 2-2h4' }], ['path', { d: 'm16 16.5 4.5-4.5L16 7.5' }], ['path', { d: 'M20.5 12H9.5' }]],
  search: [['circle', { cx: 11, cy: 11, r: 6.5 }], ['path', { d: 'm20.5 20.5-4.8-4.8' }]],
  close: [['path', { d: 'M18 6 6 18' }], ['path', { d: 'm6 6 12 12' }]],
  download: [['path', { d: 'M12 3.5v11' }], ['path', { d: 'm7 10 5 5 5-5' }], ['path', { d: 'M4.5 20.5h15' }]],
  file: [['path', { d: 'M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8l-5-5Z' }], ['path', { d: 'M14 3v5h5' }]],
  arrowDown: [['path', { d: 'M12 5v14' }], ['path', { d: 'm18.5 12.5-6.5 6.5-6.5-6.5' }]],
  userPlus: [['circle', { cx: 9, cy: 8, r: 4 }], ['path', { d: 'M2.5 20.5v-.5a6 6 0 0 1 6-6h1a6 6 0 0 1 6 6v.5' }], ['path', { d: 'M19 8v6' }], ['path', { d: 'M16 11h6' }]],
  user: [['circle', { cx: 12, cy: 8, r: 4 }], ['path', { d: 'M4.5 20.5v-.5a6.5 6.5 0 0 1 6.5-6.5h2a6.5 6.5 0 0 1 6.5 6.5v.5' }]],
  userMinus: [['circle', { cx: 9, cy: 8, r: 4 }], ['path', { d: 'M2.5 20.5v-.5a6 6 0 0 1 6-6h1a6 6 0 0 1 6 6v.5' }], ['path', { d: 'M16 11h6' }]],
  lock: [['rect', { x: 5, y: 10.5, width: 14, height: 10, rx: 2 }], ['path', { d: 'M8 10.5V7a4 4 0 0 1 8 0v3.5' }]],
  retry: [['path', { d: 'M3.5 12a8.5 8.5 0 1 0 2.7-6.2L3.5 8.5' }], ['path', { d: 'M3.5 3.5v5h5' }]],
  trash: [['path', { d: 'M3.5 6.5h17' }], ['path', { d: 'M8.5 6.5v-2a1 1 0 0 1 1-1h5a1 1 0 0 1 1 1v2' }], ['path', { d: 'm6 6.5 1 14h10l1-14' }]],
  users: [['circle', { cx: 9, cy: 8, r: 3.5 }], ['path', { d: 'M2.5 20v-.5a5.5 5.5 0 0 1 5.5-5.5h2a5.5 5.5 0 0 1 5.5 5.5v.5' }],
    ['path', { d: 'M15.5 4.7a3.5 3.5 0 0 1 0 6.6' }], ['path', { d: 'M18 14.3a5.5 5.5 0 0 1 3.5 5.2v.5' }]],
  info: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M12 11v5.5' }], ['path', { d: 'M12 7.5v.01' }]],
  chat: [['path', { d: 'M20.5 11.5a8 8 0 0 1-11.7 7.1L3.5 20l1.4-4.9A8 8 0 1 1 20.5 11.5Z' }]],
  settings: [['path', { d: 'M4 6.5h9' }], ['path', { d: 'M17 6.5h3' }], ['circle', { cx: 15, cy: 6.5, r: 2 }],
    ['path', { d: 'M4 12h3' }], ['path', { d: 'M11 12h9' }], ['circle', { cx: 9, cy: 12, r: 2 }],
    ['path', { d: 'M4 17.5h9' }], ['path', { d: 'M17 17.5h3' }], ['circle', { cx: 15, cy: 17.5, r: 2 }]],
};

/** An inline SVG icon (decorative: hidden from assistive technology). */
export function icon(name, { size = 20, className = '' } = {}) {
  const shapes = ICONS[name];
  if (!shapes) throw new Error(`unknown icon ${name}`);
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '1.8');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', `icon icon-${name} ${className}`.trim());
  for (const [tag, attrs] of shapes) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    svg.append(el);
  }
  return svg;
}

/** Fill every element with data-icon="name" in `root` with its icon (once). */
export function decorateIcons(root = document) {
  for (const el of root.querySelectorAll('[data-icon]')) {
    if (el.querySelector(':scope > svg.icon')) continue;
    el.prepend(icon(el.dataset.icon, { size: Number(el.dataset.iconSize) || 20 }));
  }
}
