// smsgate console charts: inline SVG drawn by hand (no library).
"use strict";

window.Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = {
    QUEUED: "#9aa5b1", SENDING: "#f0b429", SUBMITTED: "#2f80ed",
    DELIVERED: "#27ae60", FAILED: "#eb5757", EXPIRED: "#8e44ad",
  };

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // The smallest "round" number (1, 2, 2.5, 5 x 10^k) at least v.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  const pad = (n) => String(n).padStart(2, "0");
  const hhmm = (ms) => { const d = new Date(ms); return `${pad(d.getHours())}:${pad(d.getMinutes())}`; };

  // Stacked bars: one bar per bucket ({t, counts: {key: n}}), one segment per key.
  function stacked(buckets, keys, { width = 760, height = 230 } = {}) {
    const m = { left: 44, right: 8, top: 10, bottom: 26 };
    const plotW = width - m.left - m.right;
    const plotH = height - m.top - m.bottom;
    const totals = buckets.map((b) => keys.reduce((s, k) => s + (b.counts[k] || 0), 0));
    const max = niceMax(Math.max(0, ...totals));
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": "messages per minute by state" });
    for (let i = 0; i <= 4; i++) {
      const y = m.top + plotH - (plotH * i) / 4;
      root.append(svg("line", { class: i ? "grid" : "axis", x1: m.left, x2: width - m.right, y1: y, y2: y }));
      root.append(svg("text", { x: m.left - 6, y: y + 4, "text-anchor": "end" }, formatCount((max * i) / 4)));
    }
    const step = plotW / Math.max(buckets.length, 1);
    const barW = Math.max(step - 1.5, 1);
    buckets.forEach((b, i) => {
      const x = m.left + i * step;
      let y = m.top + plotH;
      for (const k of keys) {
        const n = b.counts[k] || 0;
        if (!n) continue;
        const h = (plotH * n) / max;
        y -= h;
        root.append(svg("rect", { x: x + 0.5, y, width: barW, height: Math.max(h, 0.5), fill: COLORS[k] || "#999",
          "data-state": k }, svg("title", {}, `${hhmm(b.t)} ${k}: ${n}`)));
      }
      const minute = new Date(b.t).getMinutes();
      if (minute % 10 === 0) {
        root.append(svg("text", { x: x + step / 2, y: height - 8, "text-anchor": "middle" }, hhmm(b.t)));
      }
    });
    return root;
  }

  // Horizontal bars: rows of {label, value (0..max), text}; value null draws no bar.
  function hbars(rows, { max = null, color = () => "#2f80ed", width = 520, empty = "nothing yet" } = {}) {
    if (!rows.length) {
      return svg("svg", { viewBox: `0 0 ${width} 28`, role: "img" },
        svg("text", { x: 4, y: 18 }, empty));
    }
    const rowH = 24, labelW = 130, textW = 110;
    const height = rows.length * rowH + 6;
    const top = max ?? niceMax(Math.max(0, ...rows.map((r) => r.value || 0)));
    const barArea = width - labelW - textW;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
    rows.forEach((r, i) => {
      const y = 4 + i * rowH;
      root.append(svg("text", { x: labelW - 8, y: y + 15, "text-anchor": "end" }, r.label));
      root.append(svg("rect", { x: labelW, y: y + 3, width: barArea, height: rowH - 8, fill: "#f0f4f8" }));
      if (r.value !== null && r.value !== undefined && top > 0) {
        const w = Math.max((barArea * r.value) / top, r.value > 0 ? 1 : 0);
        root.append(svg("rect", { x: labelW, y: y + 3, width: w, height: rowH - 8, fill: color(r) },
          svg("title", {}, `${r.label}: ${r.text}`)));
      }
      root.append(svg("text", { x: labelW + barArea + 8, y: y + 15 }, r.text));
    });
    return root;
  }

  function formatCount(n) {
    if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
    if (n >= 1e4) return `${+(n / 1e3).toFixed(1)}k`;
    return String(+n.toFixed(1));
  }

  return { stacked, hbars, COLORS };
})();
