// The bench history view: GET /api/history, drawn as predicted next to
// measured tok/s per run (one chart per phase) and listed in a table.
// Every mark carries its number in data-value, so the browser check can
// compare the picture with `canirun history --json`.
'use strict';
const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

const pct = (e) => (e === null || e === undefined ? '-' : (e > 0 ? '+' : '') + (e * 100).toFixed(0) + '%');
const rate = (r) => (r === null || r === undefined ? '-' : r.toFixed(2));

// One chart: a column per run, the measured dot with its spread and the
// predicted ring, on a linear axis from 0.
function chart(svg, entries) {
  svg.textContent = '';
  const W = Math.max(320, 60 + entries.length * 56), H = 240, L = 48, B = 40, T = 14;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('width', W);
  if (!entries.length) {
    svg.appendChild(el('text', { x: L, y: H / 2, class: 'tick' }, 'no runs of this phase'));
    return;
  }
  const top = Math.max(...entries.map((e) => Math.max(e.run.measured_tps + e.run.spread_tps, e.run.predicted_tps || 0))) * 1.1;
  const y = (v) => H - B - (v / top) * (H - B - T);
  svg.appendChild(el('line', { x1: L, y1: y(0), x2: W - 6, y2: y(0), class: 'axis' }));
  svg.appendChild(el('line', { x1: L, y1: T, x2: L, y2: y(0), class: 'axis' }));
  for (let i = 0; i <= 4; i++) {
    const v = (top / 4) * i;
    svg.appendChild(el('text', { x: L - 4, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, v < 10 ? v.toFixed(1) : v.toFixed(0)));
  }
  svg.appendChild(el('text', { x: 4, y: T - 2, class: 'tick' }, 'tok/s'));
  entries.forEach((e, i) => {
    const x = L + 28 + i * 56, r = e.run;
    const g = el('g', { 'data-id': e.id });
    g.appendChild(el('title', {}, `#${e.id} ${r.model} ${r.quant} ${r.test}: measured ${rate(r.measured_tps)} ± ${rate(r.spread_tps)}, predicted ${rate(r.predicted_tps)} (${pct(e.error)})`));
    g.appendChild(el('line', { x1: x, y1: y(Math.max(0, r.measured_tps - r.spread_tps)), x2: x, y2: y(r.measured_tps + r.spread_tps), class: 'spread' }));
    if (r.predicted_tps !== null && r.predicted_tps !== undefined) {
      g.appendChild(el('line', { x1: x, y1: y(r.measured_tps), x2: x, y2: y(r.predicted_tps), class: 'gap' }));
      g.appendChild(el('circle', { cx: x, cy: y(r.predicted_tps), r: 6, class: 'predicted', 'data-id': e.id, 'data-value': String(r.predicted_tps) }));
    }
    g.appendChild(el('circle', { cx: x, cy: y(r.measured_tps), r: 4.5, class: 'measured', 'data-id': e.id, 'data-value': String(r.measured_tps) }));
    g.appendChild(el('text', { x, y: H - B + 14, class: 'tick', 'text-anchor': 'middle' }, '#' + e.id));
    g.appendChild(el('text', { x, y: H - B + 28, class: 'tick err-label', 'text-anchor': 'middle', 'data-id': e.id, 'data-value': String(e.error) }, pct(e.error)));
    svg.appendChild(g);
  });
}

function table(entries) {
  const t = $('history-table');
  t.textContent = '';
  const head = t.insertRow();
  for (const h of ['id', 'when', 'hardware', 'engine', 'model', 'test', 'measured tok/s', 'predicted', 'error']) {
    const th = document.createElement('th');
    th.textContent = h;
    head.appendChild(th);
  }
  for (const e of entries) {
    const r = e.run, row = t.insertRow();
    row.dataset.id = e.id;
    const cells = [String(e.id), new Date(r.time * 1000).toISOString().slice(0, 16).replace('T', ' '), r.hardware,
      `${r.engine} ${r.engine_version}`.trim(), `${r.model} ${r.quant}`.trim(), r.test,
      `${rate(r.measured_tps)} ± ${rate(r.spread_tps)}`, rate(r.predicted_tps), pct(e.error)];
    for (const c of cells) row.insertCell().textContent = c;
  }
}

async function main() {
  const status = $('history-status');
  try {
    const res = await fetch('/api/history');
    const v = await res.json();
    if (!res.ok) throw new Error(v.error || res.statusText);
    const runs = v.runs;
    chart($('chart-prefill'), runs.filter((e) => e.run.phase === 'prefill'));
    chart($('chart-decode'), runs.filter((e) => e.run.phase !== 'prefill'));
    table(runs);
    status.textContent = runs.length
      ? `${runs.length} runs`
      : 'No runs yet: `canirun bench -- llama-server -m model.gguf` measures one and keeps it here.';
  } catch (err) {
    status.textContent = 'The history could not be read: ' + err.message;
    status.className = 'error';
  }
  document.body.dataset.ready = '1';
}
main();
