"""Layout checks for web pages in headless Chromium: no horizontal overflow, no clipped text.

`layout_problems(page)` runs in the page and returns a list of readable problems:
- the document is wider than the viewport (the phone user has to scroll sideways);
- a text is cut by an ancestor that hides overflow (`overflow: hidden/clip`) or by an ellipsis,
  horizontally or vertically. Vertically it uses the glyphs' ink, measured with a canvas in the
  element's own font, so an accent above a capital ("SỐ", "Ố") that sticks out of its box counts;
- a text runs out of the viewport on the left or right.
- a text is covered by another element drawn over it (a fixed button over a list's last row);
- a part of the page scrolls sideways (what lies beyond its edge is easily missed), unless it is
  marked `data-wide` (a wide statistics table on a laptop, where scrolling is the design).
Text inside a scrollable container is not "clipped": it can be reached.
"""
from __future__ import annotations

CHECK_JS = r"""
() => {
  const problems = [];
  const doc = document.documentElement;
  const vw = doc.clientWidth;
  if (doc.scrollWidth > vw + 1) {
    problems.push(`page overflows horizontally: scrollWidth ${doc.scrollWidth} > ${vw}`);
  }
  // a part of the page that scrolls sideways hides what is beyond its edge (buttons in a table row):
  // allowed only where a wide table is the point (data-wide, e.g. statistics on a laptop)
  for (const el of document.querySelectorAll("body *")) {
    const cs = getComputedStyle(el);
    if (["auto", "scroll"].includes(cs.overflowX) && el.scrollWidth > el.clientWidth + 1 &&
        el.clientWidth > 0 && !el.closest("[data-wide]") && cs.display !== "none") {
      problems.push(`a part scrolls sideways: ${el.id ? "#" + el.id : el.tagName.toLowerCase() + "." + String(el.className).trim().replace(/\s+/g, ".")} ` +
                    `(${el.scrollWidth} > ${el.clientWidth})`);
    }
  }
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  const clips = (el) => {
    const out = [];
    for (let a = el.parentElement; a && a !== doc; a = a.parentElement) {
      const cs = getComputedStyle(a);
      const x = cs.overflowX, y = cs.overflowY;
      if (["hidden", "clip"].includes(x) || ["hidden", "clip"].includes(y)) {
        out.push({el: a, x: ["hidden", "clip"].includes(x), y: ["hidden", "clip"].includes(y)});
      }
      if (cs.position === "fixed") break;
    }
    return out;
  };
  const visible = (el) => {
    for (let a = el; a; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.display === "none" || cs.visibility === "hidden" || cs.opacity === "0") return false;
    }
    return true;
  };
  const name = (el) => el.id ? `#${el.id}` : el.tagName.toLowerCase() + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  let node;
  while ((node = walker.nextNode())) {
    const text = node.textContent.trim();
    if (!text) continue;
    const el = node.parentElement;
    if (!el || seen.has(el) || ["SCRIPT", "STYLE", "NOSCRIPT", "OPTION", "TEXTAREA"].includes(el.tagName)) continue;
    if (el.closest(".sr-only, [hidden], dialog:not([open]), select, datalist")) continue;
    if (el.closest("[data-marquee]") && getComputedStyle(el).animationName !== "none") continue;  // a scrolling ticker
    if (!visible(el)) continue;
    seen.add(el);
    const cs = getComputedStyle(el);
    if (cs.textOverflow === "ellipsis" && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`text cut with an ellipsis: ${name(el)} "${text.slice(0, 40)}"`);
      continue;
    }
    ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = Array.from(range.getClientRects()).filter(r => r.width > 0 && r.height > 0);
    if (!rects.length) continue;
    const m = ctx.measureText(text);
    const inkAbove = m.actualBoundingBoxAscent - m.fontBoundingBoxAscent;  // ink higher than the font's box
    const inkBelow = m.actualBoundingBoxDescent - m.fontBoundingBoxDescent;
    const box = {
      left: Math.min(...rects.map(r => r.left)), right: Math.max(...rects.map(r => r.right)),
      top: Math.min(...rects.map(r => r.top)) - Math.max(0, inkAbove),
      bottom: Math.max(...rects.map(r => r.bottom)) + Math.max(0, inkBelow),
    };
    const scroller = (() => {
      for (let a = el.parentElement; a && a !== doc && a !== document.body; a = a.parentElement) {
        if (["auto", "scroll"].includes(getComputedStyle(a).overflowX)) return a;
      }
      return null;
    })();
    if (!scroller && (box.right > vw + 1 || box.left < -1)) {
      problems.push(`text outside the viewport: ${name(el)} "${text.slice(0, 40)}" (${Math.round(box.left)}–${Math.round(box.right)} of ${vw})`);
      continue;
    }
    // covered: what is drawn at the middle of the text's first line is neither it nor inside it
    const first = rects[0];
    const cx = (first.left + first.right) / 2, cy = (first.top + first.bottom) / 2;
    const hiddenForScreenReaders = (() => {  // e.g. a stacked table's thead on a phone: clipped to nothing
      for (let a = el; a && a !== doc; a = a.parentElement) {
        const r = a.getBoundingClientRect();
        if (getComputedStyle(a).clip !== "auto" || (r.width <= 1 && r.height <= 1)) return true;
      }
      return false;
    })();
    if (!hiddenForScreenReaders && cx >= 0 && cy >= 0 && cx < vw && cy < window.innerHeight) {
      const hit = document.elementFromPoint(cx, cy);
      if (hit && !el.contains(hit) && !hit.contains(el)) {
        problems.push(`text covered by ${name(hit)}: ${name(el)} "${text.slice(0, 40)}"`);
        continue;
      }
    }
    for (const c of clips(el)) {
      const r = c.el.getBoundingClientRect();
      const bl = parseFloat(getComputedStyle(c.el).borderLeftWidth) || 0;
      const bt = parseFloat(getComputedStyle(c.el).borderTopWidth) || 0;
      const inner = {left: r.left + bl, top: r.top + bt, right: r.left + bl + c.el.clientWidth, bottom: r.top + bt + c.el.clientHeight};
      const cutX = c.x && (box.left < inner.left - 1 || box.right > inner.right + 1);
      const cutY = c.y && (box.top < inner.top - 1 || box.bottom > inner.bottom + 1);
      // a row scrolled out of a paged list entirely is not shown at all, which is not a clipped text
      const outside = box.bottom <= inner.top || box.top >= inner.bottom || box.right <= inner.left || box.left >= inner.right;
      if ((cutX || cutY) && !outside) {
        problems.push(`text clipped ${cutX ? "horizontally" : "vertically"} by ${name(c.el)}: ${name(el)} "${text.slice(0, 40)}" ` +
          `(text ${Math.round(box.left)},${Math.round(box.top)}–${Math.round(box.right)},${Math.round(box.bottom)}; ` +
          `box ${Math.round(inner.left)},${Math.round(inner.top)}–${Math.round(inner.right)},${Math.round(inner.bottom)})`);
        break;
      }
    }
  }
  return problems;
}
"""

VIEWPORTS = {"laptop": (1366, 768), "full-hd": (1920, 1080), "phone": (390, 844)}


def layout_problems(page) -> list[str]:
    return page.evaluate(CHECK_JS)
