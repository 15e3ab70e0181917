// The chart SVG reader (ui/js/svg.js): it keeps what charts are drawn with, drops everything
// else with its content, keeps text as text, and refuses what is not plain well-formed SVG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSvg } from '../../ui/js/svg.js';

/** The tree as compact markup, to compare in one line (text shown as JSON strings). */
function show(node) {
  if (typeof node === 'string') return JSON.stringify(node);
  const attrs = node.attrs.map(([k, v]) => ` ${k}=${JSON.stringify(v)}`).join('');
  return `<${node.name}${attrs}>${node.children.map(show).join('')}</${node.name}>`;
}

test('reads a chart as plotters writes it', () => {
  const svg = `<svg width="640" height="210" viewBox="0 0 640 210" xmlns="http://www.w3.org/2000/svg">
<line opacity="0.25" stroke="#8A9099" stroke-width="1" x1="60" y1="139" x2="627" y2="139"/>
<polyline fill="none" opacity="1" stroke="#3B82F6" stroke-width="2" points="60,100 61,99 "/>
<polygon fill="#3B82F6" opacity="0.2" points="60,90 61,91 61,110 60,109"/>
<circle cx="60" cy="100" r="1" opacity="1" fill="#3B82F6" stroke="none" stroke-width="1"/>
<text x="50" y="139" dy="0.5ex" text-anchor="end" font-family="sans-serif" font-size="11.3" opacity="1" fill="#8A9099">
20.0 °C
</text>
</svg>
`;
  assert.equal(
    show(parseSvg(svg)),
    '<svg width="640" height="210" viewBox="0 0 640 210">' +
      '<line opacity="0.25" stroke="#8A9099" stroke-width="1" x1="60" y1="139" x2="627" y2="139"></line>' +
      '<polyline fill="none" opacity="1" stroke="#3B82F6" stroke-width="2" points="60,100 61,99 "></polyline>' +
      '<polygon fill="#3B82F6" opacity="0.2" points="60,90 61,91 61,110 60,109"></polygon>' +
      '<circle cx="60" cy="100" r="1" opacity="1" fill="#3B82F6" stroke="none" stroke-width="1"></circle>' +
      '<text x="50" y="139" dy="0.5ex" text-anchor="end" font-family="sans-serif" font-size="11.3" opacity="1" fill="#8A9099">"\\n20.0 °C\\n"</text>' +
      '</svg>',
  );
});

test('a sensor name with markup in a title stays text', () => {
  const svg = '<?xml version="1.0"?><svg><text x="1">&lt;img src=x onerror=alert(1)&gt; &amp; &#x3C;b&#62; &quot;q&apos;</text></svg>';
  assert.equal(show(parseSvg(svg)), '<svg><text x="1">"<img src=x onerror=alert(1)> & <b> \\"q\'"</text></svg>');
});

test('drops script, foreign content, links, handlers and references with what they hold', () => {
  const svg = `<svg onload="alert(1)" width="3" style="x">
<script>alert(2)</script>
<foreignObject><div xmlns="http://www.w3.org/1999/xhtml"><img src="x" onerror="alert(3)"/></div></foreignObject>
<a href="javascript:alert(4)"><text>link</text></a>
<image href="http://example.com/x.png"/>
<svg:script xmlns:svg="http://www.w3.org/2000/svg">alert(5)</svg:script>
<rect fill="url(http://example.com/p.svg#p)" stroke="URL (#x)" xlink:href="#a" onclick="alert(6)" x="1"/>
<set attributeName="href" to="javascript:alert(7)"/><animate attributeName="onload"/><use href="#x"/><style>*{}</style>
<g transform="translate(1,2)"><text font-size="9">kept<tspan dy="1">too</tspan></text></g>
<!-- a comment -->
</svg>`;
  assert.equal(
    show(parseSvg(svg)),
    '<svg width="3"><rect x="1"></rect><g transform="translate(1,2)"><text font-size="9">"kept"<tspan dy="1">"too"</tspan></text></g></svg>',
  );
});

test('refuses what is not plain well-formed SVG', () => {
  for (const bad of [
    '',
    '<svg>',
    '<svg><g></svg></g>',
    '<svg/><svg/>',
    'text<svg/>',
    '<html><svg/></html>',
    '<script>alert(1)</script>',
    '<!DOCTYPE svg [<!ENTITY x "y">]><svg>&x;</svg>',
    '<svg><![CDATA[<script>]]></svg>',
    '<svg>&nbsp;</svg>',
    '<svg>a & b</svg>',
    '<svg><text>]]></text></svg>',
    '<svg a="1" a="2"/>',
    '<svg a="1"b="2"/>',
    '<svg a=1/>',
    '<svg a="<"/>',
    '<svg a="1/>',
    '<svg><text>&#0;</text></svg>',
    '<svg><text>&#xD800;</text></svg>',
    '<svg><!-- open',
  ]) {
    assert.throws(() => parseSvg(bad), undefined, `accepted ${JSON.stringify(bad)}`);
  }
});
