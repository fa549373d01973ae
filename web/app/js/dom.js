// A tiny element builder, so views are plain functions of their data and no HTML string is
// ever built from values (names and addresses cannot inject markup).

/**
 * `el('tr', {class: 'x', onclick: f, checked: true}, 'text', child, …)`: attributes named
 * `on…` become listeners, booleans and `value` become properties; children that are null,
 * false or '' are skipped; strings and numbers become text. `style` is set through the CSSOM,
 * which the content security policy allows (a `style` attribute it refuses).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (typeof v === 'boolean' || k === 'value') node[k] = v;
    else if (k === 'style') node.style.cssText = String(v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false || c === '') continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** An SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false || c === '') continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
