/**
 * The command-line contract every command shares: --help and --version everywhere, each option
 * explained, one plain line and exit 2 for a wrong command line, and options from a config file
 * and the environment with flags winning.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AUTHZ_COMMANDS, COMMANDS, DEVICE_COMMANDS, brokerServeCommand, keygenCommand, mqttPasswordCommand, tokenCommand, main, packageVersion, parseCommandLine, UsageError, type CliIo, type CommandSpec } from '../cli/index.js';

const run = promisify(execFile);
const bin = new URL('../bin/keybound.js', import.meta.url).pathname;

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) } }, out: () => out, err: () => err };
}

const version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string;

describe('--help and --version on every command', () => {
  const specs: CommandSpec[] = [...AUTHZ_COMMANDS.map((c) => c.spec), ...DEVICE_COMMANDS.map((c) => c.spec), brokerServeCommand.spec, keygenCommand.spec, tokenCommand.spec, mqttPasswordCommand.spec];

  it('every option of every spec has a one-line explanation', () => {
    for (const spec of specs) {
      for (const [name, o] of Object.entries(spec.options)) {
        expect(o.help.length, `${spec.name} --${name}`).toBeGreaterThan(8);
        expect(o.help, `${spec.name} --${name}`).not.toContain('\n');
      }
    }
  });

  it('answers --help with each option and exit 0, and --version with the package version', async () => {
    const argvs = [
      ...Object.keys(COMMANDS).map((c) => [c, '--help']),
      ...specs.map((s) => [...s.name.split(' '), '--help']),
      ['authz', '--help'],
      ['broker', '--help'],
    ];
    for (const argv of argvs) {
      const c = capture();
      expect(await main(argv, c.io), argv.join(' ')).toBe(0);
      expect(c.err(), argv.join(' ')).toBe('');
      expect(c.out(), argv.join(' ')).toMatch(/Usage: keybound/);
    }
    for (const spec of specs) {
      const c = capture();
      await main([...spec.name.split(' '), '--help'], c.io);
      for (const [name, o] of Object.entries(spec.options)) expect(c.out()).toContain(`--${name}${o.type === 'string' ? ' ' : ''}`);
      for (const o of Object.values(spec.options)) expect(c.out()).toContain(o.help);
    }
    for (const argv of [['--version'], ['authz', '--version'], ['authz', 'serve', '--version'], ['sim', '--version'], ['inspect', '--version'], ['demo', '--version']]) {
      const c = capture();
      expect(await main(argv, c.io)).toBe(0);
      expect(c.out()).toBe(`keybound ${version}\n`);
    }
    expect(packageVersion()).toBe(version);
  });

  it('answers a wrong command line with one plain line that points at --help, exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['authz', 'serve', '--bogus'], /^keybound authz serve: unknown option --bogus \(see keybound authz serve --help\)\n$/],
      [['authz', 'serve'], /^keybound authz serve: --data-dir is required \(or set KEYBOUND_DATA_DIR\)/],
      [['authz', 'register-device', '--data-dir', '/x'], /DEVICE-ID is required/],
      [['authz', 'register-device', 'a', 'b', '--data-dir', '/x'], /unexpected argument "b"/],
      [['authz', 'provision', 'a', '--data-dir'], /--data-dir needs a value/],
      [['authz', 'frob'], /unknown command "frob"/],
      [['broker', 'serve', '--audience', 'b', '--trust', 'x', '--redis'], /--redis needs a value/],
    ];
    for (const [argv, expected] of cases) {
      const c = capture();
      expect(await main(argv, c.io), argv.join(' ')).toBe(2);
      expect(c.err(), argv.join(' ')).toMatch(expected);
      expect(c.err()).not.toMatch(/\n\s+at /); // never a stack trace
    }
  });

  it('works the same from the installed launcher (a real process)', async () => {
    const help = await run(process.execPath, [bin, 'authz', 'register-client', '--help']);
    expect(help.stdout).toMatch(/--secret-file FILE +file holding the client secret/);
    const v = await run(process.execPath, [bin, '--version']);
    expect(v.stdout).toBe(`keybound ${version}\n`);
    const bad = await run(process.execPath, [bin, 'broker', 'serve', '--nope']).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).toBe(2);
    expect((bad as { stderr: string }).stderr).toBe('keybound broker serve: unknown option --nope (see keybound broker serve --help)\n');
  }, 120_000); // three launcher processes; each starts the TypeScript source and takes seconds on a loaded machine
});

describe('output paths (README walkthrough, stop 35)', () => {
  it('keybound sim refuses an unwritable --report or --json before the run, in one line', async () => {
    for (const option of ['--report', '--json']) {
      const c = capture();
      const started = Date.now();
      expect(await main(['sim', '--devices', '2', option, '/nonexistent/dir/out'], c.io)).toBe(2);
      expect(c.err()).toMatch(new RegExp(`^keybound sim: cannot write ${option} /nonexistent/dir/out: ENOENT`));
      expect(c.err().trim().split('\n')).toHaveLength(1);
      expect(c.out()).toBe(''); // no summary: nothing ran
      expect(Date.now() - started).toBeLessThan(5000);
    }
  });

  it('keybound demo makes a missing --out directory, and answers one line when it cannot', async () => {
    const c = capture();
    const file = join(mkdtempSync(join(tmpdir(), 'kb-demo-out-')), 'a-file');
    writeFileSync(file, 'x');
    expect(await main(['demo', '--devices', '1', '--out', join(file, 'sub')], c.io)).toBe(1);
    expect(c.err()).toMatch(/^keybound demo: cannot use --out .*: (ENOTDIR|EEXIST)\n$/);
  });
});

describe('config file and environment', () => {
  const spec = {
    name: 'test cmd',
    summary: 'a command for the test',
    config: true,
    options: {
      'data-dir': { type: 'string', env: 'T_DATA_DIR', help: 'where the data is' },
      port: { type: 'string', help: 'the port to use' },
      scope: { type: 'string', multiple: true, help: 'scopes to grant' },
      verbose: { type: 'boolean', env: 'T_VERBOSE', help: 'say more' },
    },
  } as const;
  const dir = mkdtempSync(join(tmpdir(), 'kb-cli-config-'));
  const file = (name: string, text: string) => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('takes flags over environment over config file', () => {
    const config = file('a.json', JSON.stringify({ 'data-dir': '/from/config', port: 8443, scope: ['a', 'b'], verbose: true }));
    const fromConfig = parseCommandLine(spec, ['--config', config], {});
    expect(fromConfig).toEqual({ kind: 'run', positionals: [], values: { 'data-dir': '/from/config', port: '8443', scope: ['a', 'b'], verbose: true } });
    const fromEnv = parseCommandLine(spec, ['--config', config], { T_DATA_DIR: '/from/env', T_VERBOSE: 'false' });
    expect(fromEnv.kind === 'run' && fromEnv.values).toMatchObject({ 'data-dir': '/from/env', verbose: false });
    const fromFlag = parseCommandLine(spec, ['--config', config, '--data-dir', '/from/flag', '--scope', 'c'], { T_DATA_DIR: '/from/env' });
    expect(fromFlag.kind === 'run' && fromFlag.values).toMatchObject({ 'data-dir': '/from/flag', scope: ['c'] });
  });

  it('refuses a config file with an unknown key, a wrong type, not JSON, not an object, too large or absent', () => {
    const bad: [string, RegExp][] = [
      [file('typo.json', '{"data_dir": "/x"}'), /"data_dir" is not an option of test cmd/],
      [file('type.json', '{"verbose": "yes"}'), /"verbose" must be true or false/],
      [file('obj.json', '{"port": {"a": 1}}'), /"port" must be a string or a number/],
      [file('text.txt', 'data-dir=/x'), /is not JSON/],
      [file('array.json', '["--port", "1"]'), /must hold a JSON object/],
      [file('big.json', `{"port": "${'9'.repeat(70_000)}"}`), /larger than 65536 bytes/],
      [join(dir, 'absent.json'), /config file .*absent\.json" does not exist/],
    ];
    for (const [f, expected] of bad) {
      expect(() => parseCommandLine(spec, ['--config', f], {})).toThrow(UsageError);
      expect(() => parseCommandLine(spec, ['--config', f], {})).toThrow(expected);
    }
    expect(() => parseCommandLine(spec, [], { T_VERBOSE: 'maybe' })).toThrow(/T_VERBOSE must be true or false/);
  });

  it('runs a real command from a config file', async () => {
    const dataDir = join(dir, 'authz-data');
    const config = file('authz.json', JSON.stringify({ 'data-dir': dataDir, init: true, scope: ['/result:GET'] }));
    const c = capture();
    expect(await main(['authz', 'register-device', 'tube-9', '--config', config], c.io)).toBe(0);
    expect(c.out()).toBe('registered device tube-9\n');
    expect(existsSync(dataDir)).toBe(true);
  });
});
