// lib.js - starting Debian's chromium for the browser tests, headless, with
// playwright-core (no browser of its own is ever downloaded).
//
// The flags keep chromium off the network (this machine's only registries
// are Debian's and npm's: background requests would be refused) and give
// each run a fresh profile in a scratch directory, removed at the end.
// playwright takes the profile as launchPersistentContext's argument (it
// refuses --user-data-dir among the flags), so a run is one browser context.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const EXECUTABLE = process.env.KOS_CHROMIUM || '/usr/bin/chromium';

// Starts chromium with a new profile under `dir` (default: the system's
// temporary folder); returns { context, close }: context is playwright's
// BrowserContext (context.newPage()), close() ends chromium and removes the
// profile.
async function launch(dir) {
  const profile = fs.mkdtempSync(path.join(dir || os.tmpdir(), 'kos-chromium-'));
  const args = [
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ];
  // Chromium refuses to run as root with its own sandbox.
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE, headless: true, args,
  });
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

module.exports = { launch };
