// Drives `canirun serve` with a real headless Chromium (Debian's chromium,
// through playwright-core): loads the page, sets model, hardware and context,
// checks the numbers on the page against the CLI's --json for the same
// settings, the share-URL round trip, an invalid input's error and the
// console, and saves screenshots at desktop and phone width.
//
// node check.cjs URL EXPECTED_DIR OUTDIR   (PLAYWRIGHT_CORE: path of the package)
// EXPECTED_DIR holds the CLI's --json for the settings entered: base.json,
// cost.json (canirun compare), ngl.json, moe.json, history.json (`canirun history --all
// --json` of the history file the server reads) (scripts/web-browser-test.sh).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const [url, expectedDir, outDir] = process.argv.slice(2);
const load = (name) => JSON.parse(fs.readFileSync(path.join(expectedDir, name), 'utf8'));
const expected = load('base.json');
// The settings of the expected file: `canirun deepseek-r1:32b --gpu 2x3090 -c 16384 -ctk q8_0 -ctv q8_0 -fa on --json`.
const INPUTS = { model: 'deepseek-r1:32b', gpu: '3090', count: '2', ctx: '16384', ctk: 'q8_0', ctv: 'q8_0', fa: 'on' };
// Chromium needs these here: the network is closed, and without the
// background-networking flags it stalls on its own update and sync calls.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

// The page's formats (crates/web/assets/app.js).
const GIB = 1024 ** 3;
const fmtBytes = (b) => (b / GIB).toFixed(2) + ' GiB';
const fmtRate = (r) => r.toFixed(1) + ' tok/s';
const fmtSeconds = (s) => (s < 120 ? s.toFixed(1) + ' s' : (s / 60).toFixed(1) + ' min');

let failures = 0;
function check(what, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ': ' + detail : ''}`);
  if (!ok) failures++;
}

async function waitResult(page, total) {
  await page.waitForFunction((t) => {
    const e = document.getElementById('out-total');
    return e && e.dataset.value === String(t) && !document.getElementById('status').textContent.startsWith('computing');
  }, total, { timeout: 20000 });
}

async function numbers(page) {
  return page.evaluate(() => {
    const out = {};
    for (const e of document.querySelectorAll('[id^="out-"]')) out[e.id] = { value: e.dataset.value, text: e.textContent };
    return out;
  });
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'canirun-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
  });
  const consoleErrors = [];
  const watch = (page) => {
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push('page error: ' + e.message));
  };
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    watch(page);
    await page.goto(url);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
    for (const [id, v] of Object.entries(INPUTS)) {
      const tag = await page.$eval('#' + id, (e) => e.tagName);
      if (tag === 'SELECT') await page.selectOption('#' + id, v); else await page.fill('#' + id, v);
    }
    await waitResult(page, expected.memory_total);
    const n = await numbers(page);
    const d0 = expected.speed.decode[0].estimate;
    const want = {
      'out-total': [expected.memory_total, fmtBytes(expected.memory_total)],
      'out-weights': [expected.memory.weights.bytes, fmtBytes(expected.memory.weights.bytes)],
      'out-kv': [expected.memory.kv.bytes, fmtBytes(expected.memory.kv.bytes)],
      'out-compute': [expected.memory.compute.bytes, fmtBytes(expected.memory.compute.bytes)],
      'out-verdict': [expected.verdict.verdict, expected.verdict.verdict.replace(/_/g, ' ')],
      'out-prefill': [expected.speed.prefill.rate, fmtRate(expected.speed.prefill.rate)],
      'out-decode': [d0.rate, fmtRate(d0.rate)],
      'out-ttft': [expected.speed.prefill.seconds, fmtSeconds(expected.speed.prefill.seconds)],
      'out-answer': [expected.speed.answer.total, fmtSeconds(expected.speed.answer.total)],
    };
    for (const [id, [value, text]] of Object.entries(want)) {
      const got = n[id] || {};
      check(`${id} equals --json`, got.value === String(value) && got.text === text,
        `page ${got.value} "${got.text}", cli ${value} "${text}"`);
    }
    const cmds = await page.$$eval('#commands pre', (ps) => ps.map((p) => p.textContent));
    check('the llama.cpp command equals --json', cmds.includes(expected.commands[0].command), expected.commands[0].command);
    const bars = await page.$$eval('#bars svg.bar', (s) => s.length);
    check('memory bars per device', bars >= 2, `${bars} bars`);
    const points = await page.$$eval('#chart circle', (c) => c.length);
    check('decode-vs-depth chart drawn', points >= 4, `${points} points`);
    await page.click('#out-kv');
    const terms = await page.$$eval('#terms-table tr', (r) => r.length);
    check('a number opens its terms', terms >= 2 && !(await page.$eval('#terms', (e) => e.hidden)), `${terms} rows`);
    await page.click('#terms-close');
    await page.waitForFunction(() => document.querySelectorAll('#table tr').length > 5, null, { timeout: 20000 });
    await page.screenshot({ path: path.join(outDir, 'desktop.png'), fullPage: true });
    // The README's picture: the first screen at desktop width (docs/img/canirun-serve.png).
    await page.screenshot({ path: path.join(outDir, 'readme.png') });

    // The share URL: a fresh page on it shows the same inputs and numbers.
    const shared = page.url();
    check('state in the URL', /ctx=16384/.test(shared) && /model=deepseek-r1%3A32b/.test(shared), shared);
    const page2 = await ctx.newPage();
    watch(page2);
    await page2.setViewportSize({ width: 390, height: 844 });
    await page2.goto(shared);
    await page2.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
    await waitResult(page2, expected.memory_total);
    const n2 = await numbers(page2);
    const same = Object.keys(want).every((k) => n2[k].value === n[k].value);
    check('share-URL round trip', same && (await page2.inputValue('#ctx')) === '16384' && (await page2.inputValue('#count')) === '2');
    const width = await page2.evaluate(() => document.documentElement.scrollWidth);
    check('usable at phone width (no sideways scroll)', width <= 390, `${width} px`);
    await page2.screenshot({ path: path.join(outDir, 'phone.png'), fullPage: true });
    check('no console errors', consoleErrors.length === 0, consoleErrors.join(' | '));

    // An invalid input: the message appears next to the field.
    const before = consoleErrors.length;
    await page.fill('#ctx', 'lots');
    await page.waitForFunction(() => document.querySelector('.err[data-for="ctx"]').textContent !== '', null, { timeout: 20000 });
    const msg = await page.textContent('.err[data-for="ctx"]');
    check('invalid context shows its error next to the field', msg.includes("'lots'"), msg);
    check('the field is marked invalid', (await page.getAttribute('#ctx', 'aria-invalid')) === 'true');
    // Chromium logs the 400 of the failed fetch; nothing else may appear.
    const extra = consoleErrors.slice(before).filter((t) => !/status of 400/.test(t));
    check('no console errors besides the 400', extra.length === 0, extra.join(' | '));
    await page.fill('#ctx', '16384');
    await page.waitForFunction(() => document.querySelector('.err[data-for="ctx"]').textContent === ''
      && !document.getElementById('result').classList.contains('stale'), null, { timeout: 20000 });
    await waitResult(page, expected.memory_total);
    check('the page recovers after the error', (await page.textContent('.err[data-for="ctx"]')) === '');

    // Cost inputs: electricity and local cost per M tokens equal `canirun compare --json`.
    const cost = load('cost.json').setups[0].report.power;
    await page.fill('#kwh_price', '0.30');
    await page.fill('#tokens_per_day', '2000000');
    await page.waitForFunction((v) => { const e = document.getElementById('out-elec'); return e && e.dataset.value === String(v); },
      cost.electricity_per_m, { timeout: 20000 }).catch(() => {});
    const nc = await numbers(page);
    check('electricity per M tokens equals compare --json', nc['out-elec'] && nc['out-elec'].value === String(cost.electricity_per_m),
      `page ${nc['out-elec'] && nc['out-elec'].value}, cli ${cost.electricity_per_m}`);
    check('local cost per M tokens equals compare --json', nc['out-local'] && nc['out-local'].value === String(cost.roi.local_usd_per_m),
      `page ${nc['out-local'] && nc['out-local'].value}, cli ${cost.roi.local_usd_per_m}`);
    await page.fill('#tokens_per_day', '-5');
    await page.waitForFunction(() => document.querySelector('.err[data-for="tokens_per_day"]').textContent !== '', null, { timeout: 20000 });
    check('invalid tokens a day shows its error next to the field', true, await page.textContent('.err[data-for="tokens_per_day"]'));
    await page.fill('#tokens_per_day', '2000000');

    // -ngl: the page equals `canirun … -ngl 40 --json`.
    const ngl = load('ngl.json');
    await page.click('#placement-flags summary');
    await page.fill('#ngl', '40');
    // -ngl moves layers but not the total, so wait for the -ngl 40 command
    // itself: the total alone matches the previous result before the update.
    await page.waitForFunction((c) => [...document.querySelectorAll('#commands pre')].some((p) => p.textContent === c),
      ngl.commands[0].command, { timeout: 20000 });
    await waitResult(page, ngl.memory_total);
    const nn = await numbers(page);
    check('-ngl 40: total, decode and the command equal --json',
      nn['out-total'].value === String(ngl.memory_total) && nn['out-decode'].value === String(ngl.speed.decode[0].estimate.rate)
      && (await page.$$eval('#commands pre', (ps) => ps.map((p) => p.textContent))).includes(ngl.commands[0].command),
      `page ${nn['out-total'].value} ${nn['out-decode'].value}, cli ${ngl.memory_total} ${ngl.speed.decode[0].estimate.rate}`);
    await page.fill('#ngl', 'many');
    await page.waitForFunction(() => document.querySelector('.err[data-for="ngl"]').textContent !== '', null, { timeout: 20000 });
    check('invalid -ngl shows its error next to the field', (await page.getAttribute('#ngl', 'aria-invalid')) === 'true',
      await page.textContent('.err[data-for="ngl"]'));
    await page.fill('#ngl', '');

    // GPU count, CPU platform, RAM and --n-cpu-moe on R1 671B.
    const moe = load('moe.json');
    await page.fill('#count', '0');
    await page.waitForFunction(() => document.querySelector('.err[data-for="count"]').textContent !== '', null, { timeout: 20000 });
    check('invalid GPU count shows its error next to the field', (await page.getAttribute('#count', 'aria-invalid')) === 'true',
      await page.textContent('.err[data-for="count"]'));
    await page.fill('#model', 'deepseek-r1:671b');
    await page.fill('#gpu', '4090');
    await page.fill('#count', '1');
    await page.fill('#cpu', 'no-such-cpu');
    await page.waitForFunction(() => document.querySelector('.err[data-for="cpu"]').textContent !== '', null, { timeout: 20000 });
    check('unknown CPU platform shows its error next to the field', true, await page.textContent('.err[data-for="cpu"]'));
    await page.fill('#cpu', 'epyc-9654');
    await page.fill('#ram', '384GiB');
    await page.fill('#n_cpu_moe', '61');
    await waitResult(page, moe.memory_total);
    const nm = await numbers(page);
    const moeCmds = await page.$$eval('#commands pre', (ps) => ps.map((p) => p.textContent));
    check('671B on 4090 + EPYC 9654, --n-cpu-moe 61: total, prefill, decode and the command equal --json',
      nm['out-total'].value === String(moe.memory_total) && nm['out-decode'].value === String(moe.speed.decode[0].estimate.rate)
      && nm['out-prefill'].value === String(moe.speed.prefill.rate) && moeCmds.includes(moe.commands[0].command),
      `page ${nm['out-total'].value} ${nm['out-decode'].value}, cli ${moe.memory_total} ${moe.speed.decode[0].estimate.rate}`);
    const bars2 = await page.$$eval('#bars svg.bar', (s) => s.length);
    check('memory bars for the GPU and the CPU', bars2 >= 2, `${bars2} bars`);
    // The new inputs survive the share URL too.
    const shared2 = page.url();
    const page3 = await ctx.newPage();
    watch(page3);
    await page3.goto(shared2);
    await page3.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
    await waitResult(page3, moe.memory_total);
    const n3 = await numbers(page3);
    const inputs3 = await Promise.all(['cpu', 'ram', 'n_cpu_moe', 'kwh_price', 'tokens_per_day'].map((f) => page3.inputValue('#' + f)));
    check('share-URL round trip of CPU, RAM, --n-cpu-moe and cost inputs',
      JSON.stringify(inputs3) === JSON.stringify(['epyc-9654', '384GiB', '61', '0.30', '2000000']) && Object.keys(n3).every((k) => n3[k].value === nm[k].value),
      `${shared2} -> ${JSON.stringify(inputs3)}`);
    await page3.screenshot({ path: path.join(outDir, 'desktop-671b.png'), fullPage: true });
    await page3.close();

    // The bench history picture (/history) against `canirun history --all --json`
    // of the file the server reads (history.json): one measured mark per run,
    // one predicted mark per run with a prediction, the same values and errors.
    const hist = load('history.json');
    // The main page's invalid inputs above logged their 400s; only this page's count here.
    const errorsBefore = consoleErrors.length;
    const page4 = await ctx.newPage();
    watch(page4);
    await page4.goto(url + 'history');
    await page4.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
    const marks = await page4.evaluate(() => {
      const get = (sel) => [...document.querySelectorAll(sel)].map((e) => [e.dataset.id, e.dataset.value]);
      return { measured: get('circle.measured'), predicted: get('circle.predicted'), errors: get('text.err-label'),
        rows: document.querySelectorAll('#history-table tr[data-id]').length, status: document.getElementById('history-status').textContent };
    });
    const byId = (pairs) => Object.fromEntries(pairs);
    const m = byId(marks.measured), pr = byId(marks.predicted), er = byId(marks.errors);
    const withPrediction = hist.filter((h) => h.run.predicted_tps !== null);
    check('history: one measured mark and one table row per run', marks.measured.length === hist.length && marks.rows === hist.length,
      `${marks.measured.length} marks, ${marks.rows} rows, cli ${hist.length} runs`);
    check('history: one predicted mark per run with a prediction', marks.predicted.length === withPrediction.length,
      `${marks.predicted.length} marks, cli ${withPrediction.length}`);
    const sameMarks = hist.every((h) => m[String(h.id)] === String(h.run.measured_tps)
      && (h.run.predicted_tps === null || pr[String(h.id)] === String(h.run.predicted_tps)));
    check('history: measured and predicted marks equal `canirun history --json`', sameMarks,
      hist.map((h) => `#${h.id} ${h.run.test} measured ${m[String(h.id)]}/${h.run.measured_tps} predicted ${pr[String(h.id)]}/${h.run.predicted_tps}`).join('; '));
    const errOk = withPrediction.every((h) => {
      const want = (h.run.predicted_tps - h.run.measured_tps) / h.run.measured_tps;
      return Math.abs(Number(er[String(h.id)]) - want) < 1e-12;
    });
    check('history: each error is (predicted - measured) / measured of the CLI values', errOk,
      withPrediction.map((h) => `#${h.id} ${er[String(h.id)]}`).join('; '));
    if (!hist.length) check('history: an empty history says how to fill it', /No runs yet/.test(marks.status), marks.status);
    await page4.screenshot({ path: path.join(outDir, 'history.png'), fullPage: true });
    await page4.close();
    const historyErrors = consoleErrors.slice(errorsBefore);
    check('no console errors on the history page', historyErrors.length === 0, historyErrors.join(' | '));
  } catch (e) {
    check('browser run', false, e.stack || String(e));
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(failures ? `${failures} check(s) failed` : 'all browser checks passed');
  process.exit(failures ? 1 : 0);
})();
