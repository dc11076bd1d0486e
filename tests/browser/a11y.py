"""An axe-style audit run in the page: every visible control has an accessible name, every
image an alt text, and visible text meets WCAG AA contrast against its background."""

AUDIT = r"""
() => {
  const problems = [];
  const shown = (el) => {
    if (el.closest('[hidden], [aria-hidden="true"], [inert]')) return false;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return style.display !== 'none' && style.visibility !== 'hidden' && box.width > 0 && box.height > 0;
  };
  const describe = (el) => `${el.tagName.toLowerCase()}${el.dataset.testid ? `[${el.dataset.testid}]` : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''}`;
  const byIds = (ids) => (ids || '').split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ').trim();
  const accessibleName = (el) => {
    const label = el.id ? document.querySelector(`label[for="${CSS.escape(el.id)}"]`) : null;
    return [
      el.getAttribute('aria-label'), byIds(el.getAttribute('aria-labelledby')), label?.textContent,
      el.closest('label')?.textContent, el.getAttribute('title'), el.getAttribute('placeholder'),
      ['BUTTON', 'A', 'SUMMARY'].includes(el.tagName) ? el.textContent : '',
      el.tagName === 'INPUT' && ['submit', 'button', 'reset'].includes(el.type) ? el.value : '',
    ].map((text) => (text || '').trim()).find(Boolean) || '';
  };
  const controls = 'button, a[href], input:not([type="hidden"]), select, textarea, [role="button"], [tabindex]:not([tabindex="-1"])';
  for (const el of document.querySelectorAll(controls)) {
    if (el.type === 'file') continue;  // opened by a labelled button
    if (shown(el) && !accessibleName(el)) problems.push(`no accessible name: ${describe(el)}`);
  }
  for (const img of document.querySelectorAll('img')) {
    if (shown(img) && !img.hasAttribute('alt')) problems.push(`image without alt: ${describe(img)}`);
  }

  const rgba = (value) => {
    const m = value.match(/^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])] : null;
  };
  const over = (top, bottom) => top.slice(0, 3).map((c, i) => c * top[3] + bottom[i] * (1 - top[3])).concat(1);
  const backgroundOf = (el) => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage !== 'none') return null;  // a gradient or picture: not judged
      const color = rgba(style.backgroundColor);
      if (color === null) return null;
      if (color[3] > 0) layers.push(color);
      if (color[3] >= 1) break;
    }
    return layers.reverse().reduce((under, layer) => over(layer, under), [255, 255, 255, 1]);
  };
  const luminance = ([r, g, b]) => {
    const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const ratio = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  for (const el of document.querySelectorAll('body *')) {
    const hasText = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!hasText || !shown(el) || el.closest('button:disabled, input:disabled, .visually-hidden')) continue;
    const style = getComputedStyle(el);
    const background = backgroundOf(el);
    const color = rgba(style.color);
    if (!background || !color) continue;
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    const got = ratio(over(color, background), background);
    if (got < needed) problems.push(`contrast ${got.toFixed(2)} < ${needed}: ${describe(el)} "${el.textContent.trim().slice(0, 40)}"`);
  }
  return problems;
}
"""


def audit(page):
    """Problems found on the page as shown now (an empty list is a pass)."""
    return page.evaluate(AUDIT)
