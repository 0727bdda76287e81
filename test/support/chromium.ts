import { chromium, type Browser } from 'playwright-core';

/** Debian's headless Chromium, quiet (no background networking, sync or updates); `extraArgs` e.g. host resolver rules. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', ...extraArgs],
  });
}
