#!/usr/bin/env node
// Launcher. In a checkout (the TypeScript source is here and tsx is installed) run the source, so
// the command never lags behind an edit; an installed package has only dist/, built by `prepare`.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const source = new URL('../cli/main.ts', import.meta.url);
const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
let load;
if (existsSync(fileURLToPath(source))) {
  try {
    const { register } = await import('tsx/esm/api');
    // Namespaced: tsx compiles our sources and what they import, not a user's module loaded by
    // its own path (`device serve --handler ./handler.js`): registered globally, tsx took an ESM
    // handler.js outside a "type": "module" package for CommonJS and failed to load it.
    const tsx = register({ namespace: 'keybound' });
    load = () => tsx.import(source.href, import.meta.url);
  } catch {
    // No tsx (production install of a checkout): fall back to the build.
  }
}
if (!load) {
  if (!existsSync(built)) {
    console.error('keybound: not built; run `npm run build` (or `npm install`, which builds)');
    process.exit(2);
  }
  load = () => import(pathToFileURL(built).href);
}
const { main } = await load();
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
