/**
 * A password a person chose, checked against what attackers try first. NIST SP 800-63B
 * §5.1.1.2: "compare the prospective secret against a list that contains values known to be
 * commonly-used, expected, or compromised", which the length-and-classes estimate
 * (secret-strength.ts) cannot: `password1234` passes it and is among the first guesses of any
 * attack (README walkthrough, stop 36). zxcvbn-ts (MIT; the maintained TypeScript zxcvbn, the
 * standard estimator) with its common and English dictionaries: common passwords, names, words,
 * keyboard walks, dates and l33t substitutions, and the user name itself.
 *
 * The dictionaries are ~7 MB on disk and take ~0.3 s to load, so they are imported on the first
 * password checked, never by a process that registers none (`authz serve` without the admin API
 * in use, every other command).
 */
import { secretWeakness } from './secret-strength.js';

/**
 * zxcvbn's score 3: at least 10^8 guesses ("safely unguessable: moderate protection from an
 * offline slow-hash scenario"). The login page is rate-limited and passwords are stored as scrypt
 * hashes, so an attacker gets nowhere near that many tries.
 */
export const MIN_PASSWORD_SCORE = 3;
/**
 * How much of a password is matched, and how many l33t substitutions are tried: zxcvbn's defaults
 * (256, 100) cost up to 2.3 s of CPU for one 256-character random password here, on the service's
 * event loop when it comes through the admin API. With these the worst of 300 random passwords
 * of 20 to 512 characters took ~80 ms, and p@ssw0rd1234 or P4$$w0rd!2024 are still caught. A
 * password past 64 characters is long enough that the rest counts as guessing work anyway.
 */
const MAX_MATCHED_CHARS = 64;
const L33T_SUBSTITUTIONS = 5;

type Checker = { check(password: string, userInputs?: (string | number)[]): { score: number; feedback: { warning: string | null } } };
let checker: Promise<Checker> | undefined;

function loadChecker(): Promise<Checker> {
  checker ??= (async () => {
    const [{ ZxcvbnFactory }, common, en] = await Promise.all([import('@zxcvbn-ts/core'), import('@zxcvbn-ts/language-common'), import('@zxcvbn-ts/language-en')]);
    return new ZxcvbnFactory({
      dictionary: { ...common.dictionary, ...en.dictionary },
      graphs: common.adjacencyGraphs,
      translations: en.translations,
      maxLength: MAX_MATCHED_CHARS,
      l33tMaxSubstitutions: L33T_SUBSTITUTIONS,
    });
  })();
  return checker;
}

/** Why `password` (for user `username`) is too weak to register, or undefined if it is not. */
export async function passwordWeakness(password: string, username: string): Promise<string | undefined> {
  const weak = secretWeakness(password, 'password');
  if (weak) return weak;
  const result = (await loadChecker()).check(password, [username]);
  if (result.score >= MIN_PASSWORD_SCORE) return undefined;
  const warning = result.feedback.warning ? `: ${result.feedback.warning.replace(/\.$/, '').toLowerCase()}` : '';
  return `the password is among the first an attacker tries${warning} (choose a longer phrase of unrelated words)`;
}
