// Chart SVG from the engine, placed in the page as elements rather than as an image.
//
// Why not `<img src="data:image/svg+xml,…">`, as before: WebKit keeps what it decoded for every
// distinct image URL, and an SVG image is a whole document of its own. With a new data: URL at
// each redraw the web process kept about 400 KB per redraw, some 200 MB an hour with one
// sensor's two charts on screen (BENCHMARKS.md, "Desktop app: memory over half an hour"). A
// `blob:` URL would need the CSP's img-src widened.
//
// Why not DOMParser and a fresh tree at each redraw: measured, that still grew, because every
// redraw left a parsed document and a few hundred elements for the garbage collector and the
// allocator. So the text is read here into a plain tree (no DOM), and the chart on screen is
// updated in place: successive charts have the same shapes in the same order, so a redraw
// mostly changes attribute values (the line's points, the axis labels).
//
// The SVG is our own (plotters) but holds sensor names (export titles), so it is treated as
// untrusted: only the elements and attributes charts are drawn with are kept, anything else is
// dropped with its content (no script, foreignObject, image, link, style, event handler, href or
// url() reference), and text only ever becomes text nodes. Anything that is not plain
// well-formed XML (a doctype, CDATA, an unknown entity, an unclosed tag) is refused.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The elements plotters draws charts with. */
const ELEMENTS = new Set(['svg', 'g', 'rect', 'line', 'polyline', 'polygon', 'circle', 'ellipse', 'path', 'text', 'tspan']);

/** Presentation attributes of those elements. */
const ATTRIBUTES = new Set([
  'width', 'height', 'viewBox', 'preserveAspectRatio',
  'x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'rx', 'ry', 'dx', 'dy', 'points', 'd', 'transform',
  'fill', 'fill-opacity', 'stroke', 'stroke-width', 'stroke-opacity', 'stroke-dasharray', 'stroke-linecap',
  'stroke-linejoin', 'opacity', 'font-family', 'font-size', 'font-style', 'font-weight', 'text-anchor',
  'dominant-baseline',
]);

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const NAME = /[A-Za-z_][A-Za-z0-9_.:-]*/y;
const SPACE = /[ \t\r\n]*/y;

function decode(s) {
  if (!s.includes('&')) return s;
  return s.replace(/&([^;&]*);?/g, (whole, ref) => {
    if (!whole.endsWith(';')) throw new Error('a bare & in the chart');
    let code;
    if (/^#x[0-9A-Fa-f]{1,6}$/.test(ref)) code = parseInt(ref.slice(2), 16);
    else if (/^#[0-9]{1,7}$/.test(ref)) code = parseInt(ref.slice(1), 10);
    else if (Object.hasOwn(ENTITIES, ref)) return ENTITIES[ref];
    else throw new Error(`an unknown entity in the chart: &${ref};`);
    if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw new Error('a bad character reference in the chart');
    return String.fromCodePoint(code);
  });
}

/**
 * Reads chart SVG into `{ name, attrs: [[name, value]…], children: [node or string…] }`, keeping
 * only allowed elements and attributes. Pure (no DOM). Throws on anything but well-formed SVG.
 */
export function parseSvg(text) {
  const top = { name: null, attrs: [], children: [] };
  // Open elements; `keep` is false inside a dropped element, whose content is dropped too.
  const stack = [{ node: top, keep: true }];
  let i = 0;
  const fail = (what) => {
    throw new Error(`the chart is not valid SVG: ${what} at ${i}`);
  };
  const name = () => {
    NAME.lastIndex = i;
    const m = NAME.exec(text);
    if (!m) fail('a name expected');
    i = NAME.lastIndex;
    return m[0];
  };
  const space = () => {
    SPACE.lastIndex = i;
    SPACE.exec(text);
    const moved = SPACE.lastIndex > i;
    i = SPACE.lastIndex;
    return moved;
  };
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const end = lt < 0 ? text.length : lt;
    if (end > i) {
      const raw = text.slice(i, end);
      if (raw.includes(']]>')) fail(']]> in text');
      const { node, keep } = stack[stack.length - 1];
      if (node === top) {
        if (raw.trim()) fail('text outside the root');
      } else if (keep && (node.name === 'text' || node.name === 'tspan')) {
        // Only text elements draw their text; the line breaks between shapes are left out.
        node.children.push(decode(raw));
      } else {
        decode(raw);
      }
      i = end;
      if (lt < 0) break;
    }
    if (text.startsWith('<!--', i)) {
      const close = text.indexOf('-->', i + 4);
      if (close < 0) fail('an unclosed comment');
      i = close + 3;
    } else if (text.startsWith('<?', i)) {
      // The XML declaration (or a processing instruction): nothing to draw.
      const close = text.indexOf('?>', i + 2);
      if (close < 0) fail('an unclosed declaration');
      i = close + 2;
    } else if (text.startsWith('</', i)) {
      i += 2;
      const tag = name();
      space();
      if (text[i] !== '>') fail('> expected');
      i++;
      const open = stack.pop();
      if (stack.length === 0 || open.tag !== tag) fail(`</${tag}> does not close the open element`);
    } else if (text[i + 1] === '!') {
      fail('a doctype or CDATA');
    } else {
      i++;
      const tag = name();
      const parent = stack[stack.length - 1];
      if (parent.node === top && top.children.length) fail('a second root');
      const keep = parent.keep && ELEMENTS.has(tag) && (parent.node !== top || tag === 'svg');
      if (parent.node === top && !keep) fail('the root is not <svg>');
      const node = { name: tag, attrs: [], children: [] };
      const seen = new Set();
      for (;;) {
        const spaced = space();
        if (text.startsWith('/>', i) || text[i] === '>') break;
        if (!spaced) fail('a space expected between attributes');
        const attr = name();
        space();
        if (text[i] !== '=') fail('= expected');
        i++;
        space();
        const quote = text[i];
        if (quote !== '"' && quote !== "'") fail('a quoted value expected');
        const close = text.indexOf(quote, i + 1);
        if (close < 0) fail('an unclosed attribute value');
        const raw = text.slice(i + 1, close);
        if (raw.includes('<')) fail('< in an attribute value');
        i = close + 1;
        if (seen.has(attr)) fail(`a repeated attribute ${attr}`);
        seen.add(attr);
        const value = decode(raw.replace(/[\t\n\r]/g, ' '));
        if (ATTRIBUTES.has(attr) && !/url\s*\(/i.test(value)) node.attrs.push([attr, value]);
      }
      if (keep) parent.node.children.push(node);
      if (text[i] === '/') {
        i += 2;
      } else {
        i++;
        stack.push({ node, keep, tag });
      }
    }
  }
  if (stack.length !== 1) fail('an unclosed element');
  if (top.children.length !== 1) fail('no <svg> root');
  return top.children[0];
}

function build(node) {
  if (typeof node === 'string') return document.createTextNode(node);
  const el = document.createElementNS(SVG_NS, node.name);
  for (const [k, v] of node.attrs) el.setAttribute(k, v);
  for (const child of node.children) el.append(build(child));
  return el;
}

/** Makes `el` (an element built from a parsed tree) show `node`, changing only what differs. */
function sync(el, node) {
  for (const [k, v] of node.attrs) if (el.getAttribute(k) !== v) el.setAttribute(k, v);
  if (el.attributes.length !== node.attrs.length) {
    const keep = new Set(node.attrs.map(([k]) => k));
    for (const a of [...el.attributes]) if (!keep.has(a.name)) el.removeAttribute(a.name);
  }
  const kids = el.childNodes;
  node.children.forEach((child, n) => {
    const current = kids[n];
    if (typeof child === 'string' && current?.nodeType === Node.TEXT_NODE) {
      if (current.data !== child) current.data = child;
    } else if (typeof child !== 'string' && current?.nodeType === Node.ELEMENT_NODE && current.localName === child.name) {
      sync(current, child);
    } else if (current) {
      current.replaceWith(build(child));
    } else {
      el.append(build(child));
    }
  });
  while (kids.length > node.children.length) el.lastChild.remove();
}

/** Shows `node` (from parseSvg) as the only content of `container`, reusing the chart there. */
export function showSvg(container, node) {
  const current = container.firstChild;
  if (current && current === container.lastChild && current.nodeType === Node.ELEMENT_NODE && current.localName === node.name) {
    sync(current, node);
  } else {
    container.replaceChildren(build(node));
  }
}
