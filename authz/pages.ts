/**
 * Server-rendered login, consent and device-verification pages. Every value is HTML-escaped;
 * every form carries the session's CSRF token; no secret is ever placed in a page. The CSS is
 * served from /static/authz.css so that a strict Content-Security-Policy (no inline anything) holds.
 */
export const PAGE_CSP = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const CSS = `body{font:16px/1.4 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}form{display:grid;gap:.6rem}input{padding:.5rem;font:inherit}
button{padding:.5rem 1rem;font:inherit;cursor:pointer}.row{display:flex;gap:.6rem}.err{color:#a00}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}dt{font-weight:600}`;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><link rel="stylesheet" href="/static/authz.css"></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

/**
 * `request`: the id of the authorization request to show consent for after signing in;
 * `userCode`: the device flow's code from verification_uri_complete, carried by this form only.
 */
export function loginPage(csrf: string, next: string, error?: string, request?: string, userCode?: string): string {
  return page(
    'Sign in',
    `${error ? `<p class="err" id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/login"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><input type="hidden" name="next" value="${escapeHtml(next)}">${
      request ? `<input type="hidden" name="request" value="${escapeHtml(request)}">` : ''
    }${userCode ? `<input type="hidden" name="user_code" value="${escapeHtml(userCode)}">` : ''}
<label>User name <input name="username" id="username" autocomplete="username" required></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
<button type="submit" id="login">Sign in</button></form>`,
  );
}

/** The form names the request it shows (`request`): Allow approves that request and no other. */
export function consentPage(csrf: string, request: string, clientName: string, audience: string, scope: string, user: string): string {
  return page(
    'Allow access?',
    `<p>Signed in as <b>${escapeHtml(user)}</b>.</p><dl><dt>Client</dt><dd id="client">${escapeHtml(clientName)}</dd>
<dt>Audience</dt><dd id="audience">${escapeHtml(audience)}</dd><dt>Scope</dt><dd id="scope">${escapeHtml(scope)}</dd></dl>
<form method="post" action="/consent"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><input type="hidden" name="request" value="${escapeHtml(request)}">
<div class="row"><button name="decision" value="approve" id="approve">Allow</button><button name="decision" value="deny" id="deny">Deny</button></div></form>`,
  );
}

export function devicePage(csrf: string, userCode: string, message?: string, error?: string): string {
  return page(
    'Connect a device',
    `${message ? `<p id="message">${escapeHtml(message)}</p>` : ''}${error ? `<p class="err" id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/device"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<label>Code shown on the device <input name="user_code" id="user_code" value="${escapeHtml(userCode)}" autocomplete="off" required></label>
<button name="decision" value="review" id="continue">Continue</button></form>`,
  );
}

/** RFC 8628 §5.4: before approving, the user sees what the code asks for (a code can be phished). */
export function deviceConfirmPage(csrf: string, userCode: string, clientName: string, audience: string, scope: string, user: string): string {
  return page(
    'Connect this device?',
    `<p>Signed in as <b>${escapeHtml(user)}</b>. Code <b id="code">${escapeHtml(userCode)}</b>.</p><dl><dt>Client</dt><dd id="client">${escapeHtml(clientName)}</dd>
<dt>Audience</dt><dd id="audience">${escapeHtml(audience)}</dd><dt>Scope</dt><dd id="scope">${escapeHtml(scope)}</dd></dl>
<form method="post" action="/device"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><input type="hidden" name="user_code" value="${escapeHtml(userCode)}">
<div class="row"><button name="decision" value="approve" id="approve">Allow</button><button name="decision" value="deny" id="deny">Deny</button></div></form>`,
  );
}

export function messagePage(title: string, message: string): string {
  return page(title, `<p id="message">${escapeHtml(message)}</p>`);
}

/**
 * GET /login: signing in always continues something (an application's /authorize request, or a
 * device's code), so a bare visit says where to start instead of answering 405.
 */
export function loginStartPage(): string {
  return page(
    'Sign in',
    `<p id="message">Sign-in starts from what you want to allow:</p>
<ul><li>an application sends you here by itself (its sign-in button opens <code>/authorize</code>);</li>
<li>a device shows a code: <a id="device-link" href="/device">enter the code</a> and sign in there.</li></ul>`,
  );
}
