// lib.js - starting Debian's chromium for the browser tests, headless, with
// playwright-core (no browser of its own is ever downloaded).
//
// The flags keep chromium off the network (this machine's only registries
// are Debian's and npm's: background requests would be refused) and give
// each run a fresh profile in a scratch directory, removed at the end.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const EXECUTABLE = process.env.KOS_CHROMIUM || '/usr/bin/chromium';

async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kos-chromium-'));
  const args = [
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`,
  ];
  // Chromium refuses to run as root with its own sandbox.
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const browser = await chromium.launch({ executablePath: EXECUTABLE, headless: true, args });
  const close = async () => {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { browser, close };
}

module.exports = { launch };
