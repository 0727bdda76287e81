#!/usr/bin/env node
// Launcher. In a checkout (the TypeScript source is here and tsx is installed) run the source, so
// the command never lags behind an edit; an installed package has only dist/, built by `prepare`.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const source = new URL('../cli/main.ts', import.meta.url);
const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
let entry;
if (existsSync(fileURLToPath(source))) {
  try {
    const { register } = await import('tsx/esm/api');
    register();
    entry = source.href;
  } catch {
    // No tsx (production install of a checkout): fall back to the build.
  }
}
if (!entry) {
  if (!existsSync(built)) {
    console.error('keybound: not built; run `npm run build` (or `npm install`, which builds)');
    process.exit(2);
  }
  entry = pathToFileURL(built).href;
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
