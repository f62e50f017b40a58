// canirun's page: reads the inputs, asks the local REST API (nothing else),
// draws the Report. The state lives in the query string so a result can be shared.
'use strict';

const $ = (id) => document.getElementById(id);
const FIELDS = ['model', 'quant', 'ctx', 'ctk', 'ctv', 'fa', 'engine', 'ngl', 'n_cpu_moe', 'gpu', 'count', 'cpu', 'ram', 'kwh_price', 'tokens_per_day'];
// Sent to /api/estimate as they are (the hardware fields are combined first).
const ESTIMATE = ['model', 'quant', 'ctx', 'ctk', 'ctv', 'fa', 'engine', 'ngl', 'n_cpu_moe', 'kwh_price', 'tokens_per_day'];
// The cost inputs, also sent for the side-by-side comparison.
const COST = ['kwh_price', 'tokens_per_day'];
const CACHE_TYPES = ['f16', 'bf16', 'f32', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'iq4_nl'];
const QUANTS = ['Q4_K_M', 'Q8_0', 'Q6_K', 'Q5_K_M', 'Q4_0', 'Q3_K_M', 'Q2_K', 'IQ2_XXS', 'UD-IQ1_S', 'UD-Q2_K_XL', 'F16', 'BF16', 'FP8', 'AWQ'];
let report = null;
let seq = 0;

// Formats shared with the browser test (ci/web/check.mjs reads the same rules).
const GIB = 1024 ** 3;
function fmtBytes(b) { return (b / GIB).toFixed(2) + ' GiB'; }
function fmtRate(r) { return r.toFixed(1) + ' tok/s'; }
function fmtSeconds(s) { return s < 120 ? s.toFixed(1) + ' s' : (s / 60).toFixed(1) + ' min'; }
function fmtUsd(x) { return x == null ? '?' : '$' + Math.round(x).toLocaleString('en-US'); }

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

function state() {
  const s = {};
  for (const f of FIELDS) { const v = $(f).value.trim(); if (v !== '') s[f] = v; }
  if ($('this-machine').checked) { s.machine = '1'; delete s.gpu; delete s.count; delete s.cpu; }
  for (const f of ['budget', 'min_tps']) { const v = $(f).value.trim(); if (v !== '') s[f] = v; }
  return s;
}

function restore() {
  const q = new URLSearchParams(location.search);
  for (const f of FIELDS.concat(['budget', 'min_tps'])) if (q.has(f)) $(f).value = q.get(f);
  $('this-machine').checked = q.get('machine') === '1';
  if (q.has('ngl') || q.has('n_cpu_moe')) $('placement-flags').open = true;
}

// The GPU count is checked here (the server sees it only inside `NxGPU`).
function countError(s) {
  if (s.machine || s.count == null) return null;
  return /^[0-9]+$/.test(s.count) && +s.count >= 1 && +s.count <= 64 ? null : `'${s.count}' must be a whole number from 1 to 64`;
}

function hardwareParams(s, q) {
  if (s.machine) return;
  if (s.gpu) {
    const n = parseInt(s.count || '1', 10);
    q.append('gpu', n > 1 ? `${n}x${s.gpu}` : s.gpu);
  }
  // The CPU platform is one more named device, as in `--gpu '4090 + epyc-9654'`.
  if (s.cpu) q.append('gpu', s.cpu);
  if (s.ram) q.append('ram', s.ram);
}

function estimateQuery(s, extra) {
  const q = new URLSearchParams();
  for (const f of ESTIMATE) if (s[f]) q.append(f, s[f]);
  hardwareParams(s, q);
  for (const [k, v] of Object.entries(extra || {})) q.append(k, v);
  return q;
}

function depths(ctx) {
  const c = Math.max(1, parseInt(ctx || '4096', 10) || 4096);
  return [...new Set([0, 0.125, 0.25, 0.5, 0.75, 1].map((f) => Math.floor(c * f)))].join(',');
}

async function api(path, q) {
  const r = await fetch(`/api/${path}?${q}`);
  const body = await r.json();
  if (!r.ok) { const e = new Error(body.error || r.statusText); e.field = body.field; throw e; }
  return body;
}

function clearErrors() { for (const e of document.querySelectorAll('.err')) e.textContent = ''; }
function showError(e, status) {
  let f = e.field;
  // A refused name among the hardware devices: the field that holds it.
  const cpu = $('cpu').value.trim();
  if (f === 'gpu' && cpu && e.message.includes(`'${cpu}'`)) f = 'cpu';
  const slot = document.querySelector(`.err[data-for="${f}"]`);
  if (slot) slot.textContent = e.message; else status.textContent = e.message;
  const input = $(f);
  if (input) input.setAttribute('aria-invalid', 'true');
}

async function update() {
  const s = state();
  history.replaceState(null, '', '?' + new URLSearchParams(s));
  const my = ++seq;
  const status = $('status');
  status.textContent = 'computing…';
  clearErrors();
  for (const i of document.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  try {
    const bad = countError(s);
    if (bad) { const e = new Error(bad); e.field = 'count'; throw e; }
    const r = await api('estimate', estimateQuery(s, { depths: depths(s.ctx), power: 'on', runners: 'all' }));
    if (my !== seq) return;
    report = r;
    $('result').classList.remove('stale');
    status.textContent = `${r.model.name} at ${r.quant} on ${r.hardware.description}, ${r.engine}`;
    status.className = 'muted';
    draw(r);
  } catch (e) {
    if (my !== seq) return;
    status.className = 'error';
    status.textContent = 'no result: fix the marked field';
    // The numbers below belong to the last valid inputs: dim them.
    $('result').classList.add('stale');
    showError(e, status);
  }
  glance(s);
  compare(s);
}

function setNum(id, value, text) {
  const e = $(id);
  e.dataset.value = value == null ? '' : String(value);
  e.textContent = text;
}

function draw(r) {
  const m = r.memory;
  setNum('out-total', r.memory_total, r.memory_total == null ? '–' : fmtBytes(r.memory_total));
  setNum('out-weights', m && m.weights.bytes, m ? fmtBytes(m.weights.bytes) : '–');
  setNum('out-kv', m && m.kv.bytes, m ? fmtBytes(m.kv.bytes) : '–');
  setNum('out-compute', m && m.compute.bytes, m ? fmtBytes(m.compute.bytes) : '–');
  const v = $('out-verdict');
  v.textContent = r.verdict.verdict.replace(/_/g, ' ');
  v.dataset.value = r.verdict.verdict;
  v.className = 'verdict ' + r.verdict.verdict;
  $('placement').textContent = r.placement_method || '';
  bars(r);
  const sp = r.speed;
  setNum('out-prefill', sp.prefill && sp.prefill.rate, sp.prefill ? fmtRate(sp.prefill.rate) : '–');
  const d0 = sp.decode && sp.decode[0];
  setNum('out-decode', d0 && d0.estimate.rate, d0 ? fmtRate(d0.estimate.rate) : '–');
  $('out-decode-range').textContent = d0 ? `(${d0.estimate.low.toFixed(1)}–${d0.estimate.high.toFixed(1)})` : '';
  setNum('out-ttft', sp.prefill && sp.prefill.seconds, sp.prefill ? fmtSeconds(sp.prefill.seconds) : '–');
  const a = sp.answer;
  setNum('out-answer', a && a.total, a ? fmtSeconds(a.total) : '–');
  $('out-answer-range').textContent = a ? `(${fmtSeconds(a.total_low)}–${fmtSeconds(a.total_high)})` : '';
  chart(sp.decode || []);
  power(r.power);
  commands(r.commands || []);
  // RAM without a named CPU: the command line reads it with the CPU of the
  // machine it runs on; this server's CPU is not the visitor's, so the page
  // keeps the core's typical desktop (speed.assumed_cpu) and says why.
  const cpu = sp.assumed_cpu ? [sp.assumed_cpu + ' (the page does not use this server\'s CPU: it is not yours)'] : [];
  const notes = (r.warnings || []).concat(r.notes || [], cpu);
  $('notes').replaceChildren(...notes.map((n) => el('p', {}, n)));
}

const PARTS = [['weights', 'w'], ['kv', 'k'], ['compute', 'c'], ['other', 'o']];
function bars(r) {
  const box = $('bars');
  box.replaceChildren();
  const devs = (r.placement && r.placement.devices) || [];
  // One scale for every bar, so devices compare at a glance.
  const total = (d) => d.weights + d.kv + d.compute + d.output + d.overhead;
  const scale = Math.max(1, ...devs.map((d) => Math.max(d.capacity || 0, total(d))));
  for (const d of devs) {
    const parts = { weights: d.weights, kv: d.kv, compute: d.compute, other: d.output + d.overhead };
    const used = parts.weights + parts.kv + parts.compute + parts.other;
    if (used === 0 && d.loc === 'cpu' && !d.capacity) continue;
    const cap = d.capacity || used;
    const g = svg('svg', { viewBox: '0 0 600 30', preserveAspectRatio: 'none', class: 'bar', role: 'img', 'aria-label': d.name });
    let x = 0;
    for (const [k, c] of PARTS) {
      const w = (parts[k] / scale) * 600;
      if (w > 0) g.append(svg('rect', { x, y: 4, width: w, height: 22, class: 'seg ' + c }, null));
      x += w;
    }
    if (d.capacity) g.append(svg('line', { x1: (cap / scale) * 600, x2: (cap / scale) * 600, y1: 0, y2: 30, class: 'cap' }));
    const label = `${d.name}: ${fmtBytes(used)}` + (d.capacity ? ` of ${fmtBytes(d.capacity)}` : '');
    box.append(el('div', { class: 'dev' }, el('div', {}, label), g));
  }
  if (devs.length) {
    box.append(el('p', { class: 'legend' }, ...PARTS.map(([k, c]) => el('span', { class: 'key ' + c }, k))));
  } else if (r.server) {
    box.append(el('p', {}, 'vLLM/SGLang: see the per-GPU pool in the terms (click the total).'));
  }
}

function chart(points) {
  const c = $('chart');
  c.replaceChildren();
  const pts = points.filter((p) => p.estimate);
  if (!pts.length) { c.append(svg('text', { x: 20, y: 120 }, 'no speed estimate for this setup')); return; }
  const W = 640, H = 240, L = 50, R = 10, T = 10, B = 35;
  const xmax = Math.max(1, ...pts.map((p) => p.depth));
  const ymax = Math.max(...pts.map((p) => p.estimate.high)) * 1.1 || 1;
  const X = (d) => L + (d / xmax) * (W - L - R);
  const Y = (v) => H - B - (v / ymax) * (H - T - B);
  c.append(svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }));
  c.append(svg('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    c.append(svg('text', { x: L - 6, y: Y(v) + 4, class: 'tick', 'text-anchor': 'end' }, v.toFixed(v < 10 ? 1 : 0)));
  }
  for (const p of pts) c.append(svg('text', { x: X(p.depth), y: H - B + 16, class: 'tick', 'text-anchor': 'middle' }, p.depth >= 1024 ? Math.round(p.depth / 1024) + 'k' : String(p.depth)));
  c.append(svg('text', { x: (W + L) / 2, y: H - 3, class: 'tick', 'text-anchor': 'middle' }, 'context depth (tokens)'));
  const band = pts.map((p) => `${X(p.depth)},${Y(p.estimate.high)}`).concat(pts.slice().reverse().map((p) => `${X(p.depth)},${Y(p.estimate.low)}`));
  c.append(svg('polygon', { points: band.join(' '), class: 'band' }));
  c.append(svg('polyline', { points: pts.map((p) => `${X(p.depth)},${Y(p.estimate.rate)}`).join(' '), class: 'line' }));
  for (const p of pts) {
    const dot = svg('circle', { cx: X(p.depth), cy: Y(p.estimate.rate), r: 4, class: 'dot' });
    dot.append(svg('title', {}, `${p.depth} tokens: ${fmtRate(p.estimate.rate)}`));
    c.append(dot);
  }
}

function power(p) {
  const box = $('power');
  box.replaceChildren();
  if (!p) { box.textContent = 'no power model for this hardware (name it from the catalog)'; return; }
  const parts = [];
  if (p.decode_power) parts.push(['decoding at ', numSpan('out-power', p.decode_power.wall, Math.round(p.decode_power.wall) + ' W', 'power.decode_power')]);
  if (p.joules_per_token != null) parts.push([', ', numSpan('out-jpt', p.joules_per_token, p.joules_per_token.toFixed(2) + ' J/token', 'power')]);
  if (p.electricity_per_m != null) parts.push([', electricity ', numSpan('out-elec', p.electricity_per_m, p.electricity_per_m.toFixed(2) + ' per M tokens', 'power')]);
  if (p.purchase_usd != null) parts.push([', hardware ', numSpan('out-price', p.purchase_usd, fmtUsd(p.purchase_usd), 'power')]);
  if (p.roi) parts.push(['; local ', numSpan('out-local', p.roi.local_usd_per_m, '$' + p.roi.local_usd_per_m.toFixed(2) + '/M tokens', 'power'), ` vs the API's $${p.api_usd_per_m.toFixed(2)}/M`]);
  for (const part of parts) box.append(...part);
  if (p.roi && p.roi.break_even) box.append('; ' + breakEven(p.roi.break_even));
}

function breakEven(b) {
  const kind = typeof b === 'string' ? b : b.kind;
  const tpd = b.tokens_per_day != null ? Math.round(b.tokens_per_day).toLocaleString('en-US') : '';
  if (kind === 'at') return `buying beats the API above ${tpd} generated tokens a day`;
  if (kind === 'beyond_capacity') return `buying would beat the API only above ${tpd} tokens a day, more than this setup generates`;
  return 'electricity alone costs more than the API: buying never pays off';
}

function numSpan(id, v, text, terms) {
  const b = el('b', { id, class: 'num', 'data-terms': terms, 'data-value': String(v) }, text);
  return b;
}

function commands(list) {
  const box = $('commands');
  box.replaceChildren();
  for (const c of list) {
    const pre = el('pre', {}, el('code', {}, c.command));
    const btn = el('button', { type: 'button', class: 'copy' }, 'copy');
    btn.addEventListener('click', async () => {
      try { await navigator.clipboard.writeText(c.command); btn.textContent = 'copied'; }
      catch (_) { btn.textContent = 'select and copy'; }
    });
    box.append(el('div', { class: 'cmd' }, el('h3', {}, c.engine), pre, btn));
  }
}

// Terms: the same terms as `--explain`, read off the Report.
function at(obj, path) { return path.split('.').reduce((o, k) => (o == null ? o : o[k]), obj); }
function showTerms(path, title) {
  if (!report) return;
  const node = at(report, path);
  const t = $('terms-table');
  t.replaceChildren(el('tr', {}, el('th', {}, 'term'), el('th', {}, 'formula'), el('th', {}, 'value')));
  let rows = [];
  if (node && Array.isArray(node.terms)) rows = node.terms;
  else if (node && path === 'memory') rows = ['weights', 'kv', 'compute', 'output', 'overhead'].map((k) => ({ label: k, formula: '', bytes: node[k].bytes }));
  else if (node && path === 'power') rows = [node.decode_power, node.prefill_power].filter(Boolean).flatMap((x) => x.terms || []);
  for (const r of rows) {
    const val = r.bytes != null ? fmtBytes(r.bytes) : r.seconds != null ? (r.seconds * 1000).toFixed(2) + ' ms' : r.watts != null ? r.watts.toFixed(0) + ' W' : '';
    t.append(el('tr', {}, el('td', {}, r.label || ''), el('td', {}, r.formula || r.basis || ''), el('td', {}, val)));
  }
  const notes = (node && node.notes) || [];
  for (const n of notes) t.append(el('tr', {}, el('td', { colspan: '3', class: 'muted' }, n)));
  $('terms-title').textContent = title;
  $('terms').hidden = false;
}

async function glance(s) {
  const q = new URLSearchParams();
  for (const f of ['ctx', 'ctk', 'ctv', 'fa']) if (s[f]) q.append(f, s[f]);
  const t = $('table');
  try {
    const r = await api('table', q);
    t.replaceChildren(el('tr', {}, ...['model', 'quant', 'weights', 'KV', 'other', 'total', 'smallest single GPU'].map((h) => el('th', {}, h))));
    for (const row of r.rows) {
      const m = row.memory;
      t.append(el('tr', {}, el('td', {}, row.ollama || row.model), el('td', {}, row.quant), el('td', {}, fmtBytes(m.weights)), el('td', {}, fmtBytes(m.kv)),
        el('td', {}, fmtBytes(m.compute + m.output + m.overhead)), el('td', {}, fmtBytes(m.total)), el('td', {}, row.smallest_single_gpu || (row.multi_gpu ? '≈ ' + row.multi_gpu : 'none'))));
    }
  } catch (e) { t.replaceChildren(el('tr', {}, el('td', {}, e.message))); }
}

const SIDES = [['Mac', { gpu: 'm3-ultra-512' }], ['PC', { gpu: '2x3090', ram: '128GiB' }]];
async function compare(s) {
  const t = $('compare');
  if (!s.model) return;
  const rows = await Promise.all(SIDES.map(async ([name, hw]) => {
    const q = new URLSearchParams();
    for (const f of ['model', 'quant', 'ctx', 'ctk', 'ctv', 'fa']) if (s[f]) q.append(f, s[f]);
    for (const [k, v] of Object.entries(hw)) q.append(k, v);
    for (const f of COST) if (s[f]) q.append(f, s[f]);
    q.append('power', 'on');
    try { return [name, await api('estimate', q)]; } catch (e) { return [name, null, e.message]; }
  }));
  t.replaceChildren(el('tr', {}, ...['', 'hardware', 'verdict', 'decode', 'power', 'price', '$/M tokens'].map((h) => el('th', {}, h))));
  let api_m = null;
  for (const [name, r, err] of rows) {
    if (!r) { t.append(el('tr', {}, el('td', {}, name), el('td', { colspan: '6' }, err))); continue; }
    const p = r.power || {};
    api_m = p.api_usd_per_m != null ? p.api_usd_per_m : api_m;
    const d0 = r.speed.decode && r.speed.decode[0];
    t.append(el('tr', {}, el('td', {}, name), el('td', {}, r.hardware.description), el('td', {}, r.verdict.verdict.replace(/_/g, ' ')),
      el('td', {}, d0 ? fmtRate(d0.estimate.rate) : '–'), el('td', {}, p.decode_power ? Math.round(p.decode_power.wall) + ' W' : '?'),
      el('td', {}, fmtUsd(p.purchase_usd)), el('td', {}, p.roi ? '$' + p.roi.local_usd_per_m.toFixed(2) : '?')));
  }
  if (api_m != null) t.append(el('tr', {}, el('td', {}, 'API'), el('td', {}, 'DeepSeek API (list price)'), el('td', {}, 'runs'), el('td', {}, '–'), el('td', {}, '–'), el('td', {}, '$0'), el('td', {}, '$' + api_m.toFixed(2))));
}

async function plan(ev) {
  ev.preventDefault();
  const s = state();
  history.replaceState(null, '', '?' + new URLSearchParams(s));
  const q = new URLSearchParams();
  for (const f of ['model', 'quant', 'ctx', 'budget', 'min_tps']) if (s[f]) q.append(f, s[f]);
  const st = $('plan-status');
  st.textContent = 'searching the catalog…';
  for (const e of document.querySelectorAll('#buy .err')) e.textContent = '';
  try {
    const r = await api('plan', q);
    const res = r.result;
    st.textContent = `${res.evaluated} setups evaluated, ${res.meeting} meet the target (${r.seconds.toFixed(2)} s)`;
    const t = $('plan');
    t.replaceChildren(el('tr', {}, ...['rank', 'kind', 'hardware', 'tok/s', 'price', 'TDP', 'engine'].map((h) => el('th', {}, h))));
    for (const [title, list] of [['cheapest', res.cheapest], ['fastest', res.fastest], ['most efficient', res.most_efficient], ['closest', res.meeting ? [] : res.closest]]) {
      for (const x of list) {
        t.append(el('tr', {}, el('td', {}, title), el('td', {}, x.kind), el('td', {}, x.hardware), el('td', {}, x.decode_tps ? x.decode_tps[0].toFixed(1) : '–'),
          el('td', {}, fmtUsd(x.price_usd)), el('td', {}, x.power_w ? Math.round(x.power_w) + ' W' : '?'), el('td', {}, x.engine)));
      }
    }
  } catch (e) { st.textContent = ''; showError(e, st); }
}

async function recommend() {
  const s = state();
  const q = new URLSearchParams();
  hardwareParams(s, q);
  const t = $('recommend');
  t.replaceChildren(el('tr', {}, el('td', {}, 'ranking…')));
  try {
    const r = await api('recommend', q);
    t.replaceChildren(el('tr', {}, ...['#', 'model', 'quant', 'context', 'tok/s', 'memory', 'why'].map((h) => el('th', {}, h))));
    r.picks.forEach((p, i) => t.append(el('tr', {}, el('td', {}, String(i + 1)), el('td', {}, p.ollama || p.model), el('td', {}, p.quant), el('td', {}, String(p.context)),
      el('td', {}, p.decode_tps ? p.decode_tps.toFixed(1) : '–'), el('td', {}, fmtBytes(p.memory)), el('td', {}, p.why))));
    if (!r.picks.length) t.append(el('tr', {}, el('td', { colspan: '7' }, 'nothing in the family runs here')));
  } catch (e) { t.replaceChildren(el('tr', {}, el('td', {}, e.message))); }
}

async function lists() {
  for (const id of ['ctk', 'ctv']) $(id).replaceChildren(...CACHE_TYPES.map((c) => el('option', { value: c }, c)));
  $('quant-list').replaceChildren(...QUANTS.map((q) => el('option', { value: q })));
  try {
    const [m, h] = await Promise.all([api('models', ''), api('hardware', '')]);
    $('model-list').replaceChildren(...m.models.flatMap((x) => x.ollama.concat([x.id])).map((v) => el('option', { value: v })));
    $('hw-list').replaceChildren(...h.hardware.map((x) => el('option', { value: x.id }, x.name)));
  } catch (_) { /* the search boxes still take any name */ }
}

async function machine() {
  try {
    const r = await api('machine', '');
    $('machine-line').textContent = 'this machine: ' + r.hardware.description;
  } catch (e) { $('machine-line').textContent = e.message; }
}

let timer = null;
function later() { clearTimeout(timer); timer = setTimeout(update, 250); }

async function main() {
  await lists();
  restore();
  for (const f of FIELDS) { $(f).addEventListener('input', later); $(f).addEventListener('change', later); }
  $('this-machine').addEventListener('change', () => { if ($('this-machine').checked) machine(); update(); });
  $('plan-form').addEventListener('submit', plan);
  $('rec-run').addEventListener('click', recommend);
  $('share').addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(location.href); $('share-note').textContent = 'copied'; }
    catch (_) { $('share-note').textContent = location.href; }
  });
  document.addEventListener('click', (e) => {
    const n = e.target.closest('[data-terms]');
    if (n) showTerms(n.dataset.terms, n.parentElement.textContent.trim().slice(0, 80));
  });
  $('terms-close').addEventListener('click', () => { $('terms').hidden = true; });
  if ($('this-machine').checked) machine();
  await update();
  document.body.dataset.ready = '1';
}
main();
