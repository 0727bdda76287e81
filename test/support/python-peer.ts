/**
 * The independent Python peers (test/interop/*.py) run on Debian's /usr/bin/python3 with its
 * packages (.ci/run installs them), never on a Python of our own: whether this machine has them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PYTHON = '/usr/bin/python3';

/** True when /usr/bin/python3 imports every module named; in CI a missing one fails the run. */
export function pythonHas(modules: string[], aptPackages: string): boolean {
  const ok = existsSync(PYTHON) && (() => {
    try {
      execFileSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  if (!ok && process.env.CI) throw new Error(`Python peer missing: apt-get install ${aptPackages}`);
  return ok;
}
