/**
 * Screenshots for tests that a person's eyes would judge: a full-page PNG saved under a directory
 * the test prints, and how many distinct colours it has (a blank or unstyled page has a handful;
 * text, marks and charts have hundreds). The PNG is decoded by the same Chromium, in a blank page.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';

export async function saveScreenshot(page: Page, dir: string, name: string): Promise<{ file: string; png: Buffer }> {
  const file = join(dir, `${name}.png`);
  const png = await page.screenshot({ fullPage: true });
  writeFileSync(file, png);
  return { file, png };
}

/** Distinct RGB colours in a PNG, counted on a canvas in a blank page of `browser`. */
export async function distinctColours(browser: Browser, png: Buffer): Promise<number> {
  const page = await browser.newPage();
  try {
    // A string, evaluated in the page: the DOM's types are not in this project's lib.
    return (await page.evaluate(`(async () => {
      const img = new Image();
      img.src = 'data:image/png;base64,${png.toString('base64')}';
      await img.decode();
      const canvas = new OffscreenCanvas(img.width, img.height);
      const g = canvas.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, img.width, img.height).data;
      const seen = new Set();
      for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      return seen.size;
    })()`)) as number;
  } finally {
    await page.close();
  }
}
