// Message traces on a device's page (docs/studio.md, "Message traces"):
// typing an app's name and clicking "Trace its calls" switches tracing on
// for it on the device; its calls to the echo server appear as rows of who
// called whom, with the protocol, the label, the sizes and the status; the
// page keeps them in the server's order, each once, also across a reload;
// "Stop" switches it off and no new call of it comes after.
'use strict';
const assert = require('assert');
const { test } = require('./studio');

test(async (t) => {
  const studio = await t.studio();
  const dev = await studio.device({
    name: 'traces-1',
    system: 'trace_sys',
    more: [
      'echo:', '  binary: t_app', '  memory: 8MiB', '  args: [serve, echo_protocol]',
      '  protocols:', '    msg0: {publish: [echo_protocol]}',
      'pinger:', '  binary: t_app', '  memory: 8MiB', '  args: [pinger, echo_protocol, "100", "16"]',
      '  protocols:', '    msg0: {request: [echo_protocol]}',
    ],
  });
  const page = await t.page(studio);
  await page.goto(`${studio.base}#/devices/${dev.id}`);
  await page.locator('#apps tr[data-app="pinger"]').waitFor();
  // Nothing is traced before it is asked for.
  assert.strictEqual(await page.locator('#traces tr').count(), 0);

  await page.fill('#trace-app', 'pinger');
  await page.click('#trace-on');
  await page.waitForFunction(() => /^command \d+ \(tracing pinger on\): done/.test(document.getElementById('status').textContent));
  // Calls appear live: the pinger -> echo, on msg0's echo_protocol, 16
  // bytes each way, ok.
  await page.waitForFunction(() => document.querySelectorAll('#traces tr[data-kind="call"]').length >= 5);
  const cells = await page.locator('#traces tr[data-kind="call"]').first().locator('td').allTextContents();
  assert.strictEqual(cells[1], 'pinger');
  assert.strictEqual(cells[2], '\u2192');
  assert.strictEqual(cells[3], 'echo');
  assert.strictEqual(cells[4], 'msg0/echo_protocol');
  assert.strictEqual(cells[6], '16 / 16');
  assert.strictEqual(cells[7], 'ok');

  // Each record once, in order, after a reload too (history, then live).
  const seqsOk = async () => {
    const api = await studio.api('GET', `/api/devices/${dev.id}/traces?limit=1000`);
    const times = await page.locator('#traces tr').evaluateAll((rows) => rows.map((r) => r.firstChild.textContent));
    assert.ok(times.length > 0 && times.length <= api.records.length + 50);
    assert.deepStrictEqual(times.slice().sort(), times, 'rows in time order');
  };
  await seqsOk();
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll('#traces tr[data-kind="call"]').length >= 8);
  await seqsOk();

  // Stop: the result comes back, and after it no new call is recorded.
  await page.fill('#trace-app', 'pinger');
  await page.click('#trace-off');
  await page.waitForFunction(() => /^command \d+ \(tracing pinger off\): done/.test(document.getElementById('status').textContent));
  const settle = async () => (await studio.api('GET', `/api/devices/${dev.id}/traces?limit=1000`)).records.length;
  let n = await settle();
  await t.until('the traces to settle after tracing stopped', async () => {
    await new Promise((r) => setTimeout(r, 1500));
    const m = await settle();
    const same = m === n;
    n = m;
    return same;
  });
  await new Promise((r) => setTimeout(r, 1500));
  assert.strictEqual(await settle(), n, 'no new trace record 1.5 s after it settled');
});
