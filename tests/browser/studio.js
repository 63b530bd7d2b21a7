// studio.js - what every browser test of Studio's web UI needs: a scratch
// folder, a Studio started in it on free ports (kos-tool server.start, as a
// user starts it), real sim devices provisioned against it
// (keys.generate --server studio) and booted with a Poukai system whose
// manifest grants the tunnel the Studio's device port, a browser page
// logged in with the secret, and everything stopped at the end whatever
// happens.
//
// A test is `test(async (t) => { ... })`. t.studio() starts the Studio;
// studio.device({name, apps}) provisions and boots a device and waits until
// the API shows it online with its system and health; t.page(studio)
// opens a page logged in. The test fails on an exception, on a page error
// or a console error in the page (a Content-Security-Policy violation
// among them; but the ones it expects, t.allowConsoleError(re)), or when it has run for KOS_BROWSER_DEADLINE seconds (default
// 240, under CTest's timeout, so the clean-up still runs). Waits are
// generous and never part of what is checked. On failure the scratch folder
// is kept, with a screenshot of each open page, the server's log and each
// device's console, and its path is printed; on success it is removed
// (unless KOS_BROWSER_KEEP is set).
//
// Environment (CTest sets it): KOS_TOOL, KOS_TRUST (the release public
// key), KOS_KEY (its private half, to sign the test's images), KOS_T_APP
// (tests/system/t_app.c's binary).
'use strict';
const assert = require('assert');
const { spawn, execFile } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { launch } = require('./lib');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (CTest sets it: run the test with ctest)`);
  return v;
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A TCP port on 127.0.0.1 that nothing listens on now.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Runs a program to its end; resolves { code, stdout, stderr }.
function runTool(file, args, opts) {
  return new Promise((resolve) => {
    execFile(file, args, { ...opts, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

// Polls fn (maybe async) every 100 ms until it returns a truthy value,
// which it resolves; fails saying `what` after `seconds`.
async function until(what, fn, seconds = 60) {
  const end = Date.now() + seconds * 1000;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`not within ${seconds} s: ${what}${last ? ` (last error: ${last.message})` : ''}`);
    }
    await sleep(100);
  }
}

// One device: its key bundle, its image, its running system (kos-tool run).
class Device {
  constructor(studio, name, dir) {
    this.studio = studio;
    this.name = name;
    this.dir = dir;
    this.id = null;
    this.proc = null;
    this.consoleFile = path.join(dir, 'console.txt');
  }

  // What the device printed so far (kos-tool run's output).
  console() {
    try {
      return fs.readFileSync(this.consoleFile, 'utf8');
    } catch (e) {
      return '';
    }
  }

  // Waits until the device's console has a line matching re.
  async waitConsole(re, seconds = 60) {
    return until(`a console line of device '${this.name}' matching ${re}`, () => {
      if (this.proc && this.proc.exitCode !== null) throw new Error('the device has stopped');
      return this.console().split('\n').find((l) => re.test(l));
    }, seconds);
  }

  // Boots `image` with the device's bundle; with `storage`, from that boot
  // store (kos-tool run --storage DIR [IMAGE]: image may be null), with
  // `args`, more options for kos-tool run.
  boot(image, { storage = null, args = [] } = {}) {
    const s = this.studio;
    fs.writeFileSync(this.consoleFile, '');
    const out = fs.openSync(this.consoleFile, 'a');
    const what = storage ? ['--storage', storage, ...(image ? [image] : [])] : [image];
    this.proc = spawn(s.tool, ['run', ...what, '--trust', s.trust, '--keys', path.join(this.dir, 'keys'), ...args],
      { env: s.env, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    this.exited = new Promise((r) => this.proc.on('exit', r));
  }

  // Stops the device's system (SIGTERM, as Ctrl-C would; SIGKILL after 30 s).
  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 30000);
    await this.exited;
    clearTimeout(t);
  }
}

class Studio {
  constructor(t) {
    this.t = t;
    this.work = t.work;
    this.tool = env('KOS_TOOL');
    this.trust = env('KOS_TRUST');
    this.key = env('KOS_KEY');
    this.tApp = env('KOS_T_APP');
    this.env = { ...process.env, XDG_DATA_HOME: path.join(t.work, 'xdg') };
    this.data = path.join(t.work, 'xdg', 'kos', 'studio');
    this.devices = [];
  }

  async kosTool(...args) {
    const r = await runTool(this.tool, args, { env: this.env, cwd: this.work });
    if (r.code !== 0) {
      throw new Error(`kos-tool ${args.join(' ')}: exit status ${r.code}\n${r.stdout}${r.stderr}`);
    }
    return r.stdout;
  }

  // Starts Studio on any free API port and a free device port.
  async start() {
    this.devicePort = await freePort();
    await this.kosTool('server.start', '--port', '0', '--device-port', String(this.devicePort));
    const rt = fs.readFileSync(path.join(this.data, 'studio.run'), 'utf8');
    const get = (k) => (rt.match(new RegExp(`^${k} (\\S+)$`, 'm')) || [])[1];
    this.pid = Number(get('pid'));
    this.base = get('url'); // http://127.0.0.1:PORT/
    this.secret = get('secret');
    assert(this.base && this.secret && this.pid, `the runtime file: ${rt}`);
    this.loginUrl = `${this.base}?secret=${this.secret}`;
    return this;
  }

  // Calls the API with the secret; resolves the answer's JSON, or throws
  // with the server's error.
  async api(method, route, body) {
    const opts = { method, headers: { Authorization: `Bearer ${this.secret}` } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(this.base + route.replace(/^\//, ''), opts);
    const j = await r.json();
    if (!r.ok) throw new Error(`${method} ${route}: ${r.status} ${j.error}`);
    return j;
  }

  // Provisions a device named `name` (keys.generate --server studio),
  // without booting it; with `pending`, not registered (--pending): it
  // waits for approval when it first connects.
  async provision(name, { pending = false } = {}) {
    const dir = path.join(this.work, `device${this.devices.length + 1}`);
    fs.mkdirSync(dir);
    const d = new Device(this, name, dir);
    this.devices.push(d);
    const out = await this.kosTool('keys.generate', '--device', '--out', path.join(dir, 'keys'),
      '--trust', this.trust, '--server', 'studio', '--name', name, ...(pending ? ['--pending'] : []));
    d.id = (out.match(/\(device id ([0-9a-f]{64})\)/) || [])[1];
    assert(d.id, `keys.generate said: ${out}`);
    return d;
  }

  // Builds the image of system `system` on the Poukai layer, its tunnel
  // granted this Studio's device port, with `apps`: { NAME: [t_app args] }
  // (or { NAME: { args: [...], debug: true } } for an app marked debug: true),
  // `more`: lines of YAML under apps: (the layer's apps' settings), and
  // `head`: top-level lines after system: (e.g. 'profile: development').
  async image(system, apps, more = [], head = []) {
    const q = (s) => JSON.stringify(String(s)); // a YAML double-quoted scalar
    const lines = [
      `system: ${system}`,
      ...head,
      'base: poukai',
      'apps:',
      `  ethernet: {config: {allow: ${q(`tunnel=tcp:127.0.0.1:${this.devicePort}`)}}}`,
    ];
    for (const [name, spec] of Object.entries(apps)) {
      const args = Array.isArray(spec) ? spec : spec.args;
      lines.push(`  ${name}:`, '    binary: t_app', '    memory: 8MiB',
        `    args: [${args.map(q).join(', ')}]`);
      if (spec.debug) lines.push('    debug: true');
    }
    lines.push(...more.map((l) => `  ${l}`));
    const yaml = path.join(this.work, `${system}.yaml`);
    const zip = path.join(this.work, `${system}.zip`);
    fs.writeFileSync(yaml, lines.join('\n') + '\n');
    await this.kosTool('manifest.build', yaml, '-o', zip, '--key', this.key, '--bin', `t_app=${this.tApp}`);
    return zip;
  }

  // Provisions a device named `name`, boots `system` with `apps` on it, and
  // waits until the API shows it online, with that system and its health.
  // With `storage`, it boots from that boot store (Device.boot).
  async device({ name, system = 'browser_test', apps = {}, more = [], head = [], storage = null }) {
    const d = await this.provision(name);
    d.boot(await this.image(system, apps, more, head), { storage });
    await this.waitDevice(d, (j) => j.state === 'online' && j.system === system && j.health,
      `device '${name}' online with system '${system}' and its health`);
    return d;
  }

  // Waits until the API's record of device d satisfies ok(json); resolves it.
  async waitDevice(d, ok, what, seconds = 90) {
    return until(what, async () => {
      if (d.proc && d.proc.exitCode !== null) throw new Error(`device '${d.name}' stopped:\n${d.console()}`);
      const j = await this.api('GET', `/api/devices/${d.id}`);
      return ok(j) ? j : null;
    }, seconds);
  }

  // Stops every device, then the server (kos-tool server.stop; killed if
  // it is still there after that).
  async stop() {
    for (const d of this.devices) await d.stop();
    if (!this.pid) return;
    await runTool(this.tool, ['server.stop'], { env: this.env });
    try {
      process.kill(this.pid, 0);
      process.kill(this.pid, 'SIGKILL');
    } catch (e) {
      // gone, as it should be
    }
  }
}

// Runs a test: body(t) with t.work (the scratch folder), t.studio(),
// t.page(studio), t.until(); exits 0 on success, 1 on failure.
function test(body) {
  const work = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'kos-test-browser-'));
  const studios = [];
  const pages = [];
  const errors = [];
  const allowed = []; // console errors a test expects (t.allowConsoleError)
  let browser = null;
  let finished = false;

  const t = {
    work,
    until,
    sleep,
    // Console errors matching re do not fail the test: the browser's own
    // line for an API answer the test means to get (e.g. a 403 refusal).
    allowConsoleError(re) {
      allowed.push(re);
    },
    async studio() {
      const s = new Studio(t);
      studios.push(s);
      return s.start();
    },
    // A new page, logged in to `studio` (its /?secret= address, which
    // sends the browser on to / with the session cookie).
    async page(studio) {
      if (!browser) browser = await launch(work);
      const page = await browser.context.newPage();
      page.setDefaultTimeout(60000);
      page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' && !allowed.some((re) => re.test(m.text()))) {
          errors.push(`console error: ${m.text()}`);
        }
      });
      pages.push(page);
      await page.goto(studio.loginUrl);
      assert.strictEqual(page.url(), studio.base, 'the login address leaves the secret in the address bar');
      return page;
    },
  };

  const finish = async (err) => {
    if (finished) return;
    finished = true;
    if (!err && errors.length) err = new Error(`the page reported errors:\n${errors.join('\n')}`);
    if (err) {
      for (const [i, p] of pages.entries()) {
        await p.screenshot({ path: path.join(work, `failure-${i + 1}.png`), fullPage: true }).catch(() => {});
      }
    }
    if (browser) await browser.close().catch(() => {});
    for (const s of studios) await s.stop().catch((e) => console.error(`stopping Studio: ${e.message}`));
    if (err) {
      console.error(`FAIL: ${err.stack || err}`);
      for (const s of studios) {
        const log = path.join(s.data, 'server.log');
        if (fs.existsSync(log)) console.error(`--- server.log:\n${fs.readFileSync(log, 'utf8').split('\n').slice(-30).join('\n')}`);
        for (const d of s.devices) console.error(`--- device '${d.name}' console (last 40 lines):\n${d.console().split('\n').slice(-40).join('\n')}`);
      }
      console.error(`the scratch folder is kept: ${work}`);
      process.exit(1);
    }
    if (process.env.KOS_BROWSER_KEEP) console.log(`the scratch folder is kept (KOS_BROWSER_KEEP): ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
    console.log('PASS');
    process.exit(0);
  };

  const deadline = Number(process.env.KOS_BROWSER_DEADLINE || 240);
  setTimeout(() => finish(new Error(`the test did not end within ${deadline} s`)), deadline * 1000).unref();
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => finish(new Error(`stopped by ${sig}`)));
  body(t).then(() => finish(null), (e) => finish(e));
}

module.exports = { test, until, sleep };
