/**
 * The browser for the end-to-end tests: Debian's Chromium, driven by
 * playwright-core. Nothing is ever downloaded. A machine without Chromium
 * fails the suite with the command that fixes it, unless the run opted out
 * with PARLEY_SKIP_BROWSER=1.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** True when this run opted out of browser tests; says so on the console, so a skip is never silent. */
export function browserSkipped(): boolean {
  if (process.env.PARLEY_SKIP_BROWSER !== '1') return false;
  console.warn('\n*** PARLEY_SKIP_BROWSER=1: the Web Messenger browser tests are SKIPPED; the widget is not tested end to end in this run. ***\n');
  return true;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: the Web Messenger end-to-end tests need Debian's Chromium. Install it with \`apt-get install chromium\` (CI does so in .ci/run), or set PARLEY_SKIP_BROWSER=1 to skip these tests knowingly.`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
