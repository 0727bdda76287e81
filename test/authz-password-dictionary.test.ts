/**
 * User passwords against the dictionaries (authz/password-dictionary.ts): what passes the
 * length-and-classes estimate (secret-strength.ts) but is among an attacker's first guesses is
 * refused; so is one built on the user's own name; a phrase of unrelated words passes. The CLI and
 * the admin API refuse them too (test/cli-registrations.test.ts, test/authz-admin.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { passwordWeakness, secretWeakness } from '../authz/index.js';

describe('a password among the first an attacker tries', () => {
  it.each(['password1234', 'Password1234!', 'p@ssw0rd1234', 'qwertyuiop123', 'iloveyou12345'])('%s passes the estimate and is refused by the dictionaries', async (password) => {
    expect(secretWeakness(password, 'password')).toBeUndefined();
    expect(await passwordWeakness(password, 'bob')).toMatch(/^the password is among the first an attacker tries: .*commonly used password/);
  });

  it("a password built on the user's own name is refused for that user, not for another", async () => {
    expect(await passwordWeakness('winterfell-admin2024', 'winterfell-admin')).toContain('among the first an attacker tries');
    expect(await passwordWeakness('winterfell-admin2024', 'bob')).toBeUndefined();
  });

  it('a phrase of unrelated words and a random secret pass; what the estimate refuses is refused first, with its reason', async () => {
    expect(await passwordWeakness('correct horse battery staple', 'bob')).toBeUndefined();
    expect(await passwordWeakness('J3n7t0UZr5xQ2f9WbKcA', 'bob')).toBeUndefined();
    expect(await passwordWeakness('hunter2', 'bob')).toBe(secretWeakness('hunter2', 'password'));
    expect(await passwordWeakness('x'.repeat(600), 'bob')).toContain('longer than');
    // The longest a password may be, random: matched in its first 64 characters, and accepted.
    const longest = Array.from({ length: 500 }, (_, i) => 'J3n7t0UZr5xQ2f9WbKcA-hLpY'[(i * 7 + (i >> 3)) % 25]).join('');
    expect(secretWeakness(longest, 'password')).toBeUndefined();
    expect(await passwordWeakness(longest, 'bob')).toBeUndefined();
  });
});
