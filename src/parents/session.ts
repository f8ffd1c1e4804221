// The routing key of one request: who asks (the client identity) and, from the session header
// (`X-Proxy-Session: abc` or `session=abc; country=us`, removed before forwarding), the session
// and country a provider reads from the parent's user name. Pure parsing; the header's name is
// configuration (`parents.sessionHeader`).
import { ProxyError } from '../errors.js';

export interface RouteKey {
  /** The client identity (policy/identity.ts): what sticky selection and `{client}` fall back to. */
  client?: string;
  session?: string;
  country?: string;
}

const VALUE = /^[A-Za-z0-9_]{1,64}$/;

function badSession(header: string, why: string): ProxyError {
  return new ProxyError(400, 'bad_session_header', `${header}: ${why}`);
}

/** `abc` or `session=abc; country=us` → the key's session and country; a bad value is a 400 naming the header. */
export function parseSessionHeader(header: string, value: string | string[] | undefined, client: string | undefined): RouteKey {
  const key: RouteKey = client === undefined ? {} : { client };
  if (value === undefined) return key;
  const text = (Array.isArray(value) ? value.join(';') : value).trim();
  if (!text.includes('=')) {
    if (!VALUE.test(text)) throw badSession(header, 'expected a session id of letters, digits and _ (at most 64), or session=…; country=…');
    key.session = text;
    return key;
  }
  for (const part of text.split(';')) {
    const [name = '', field = ''] = part.split('=').map((s) => s.trim());
    if (name !== 'session' && name !== 'country') throw badSession(header, `expected session=… and country=…, got ${JSON.stringify(name.slice(0, 32))}`);
    if (!VALUE.test(field)) throw badSession(header, `${name}: expected letters, digits and _ (at most 64)`);
    key[name] = field;
  }
  return key;
}

/** What a template variable stands for: client ids may hold ':' or '.', which user names cannot. */
function variable(key: RouteKey, name: string): string | undefined {
  if (name === 'client') return key.client?.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 64);
  if (name === 'session') return key.session ?? key.client?.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 64);
  return name === 'country' ? key.country : undefined;
}

/**
 * `user-session-{session}-country-{country}` filled from the key. A variable with no value takes
 * its `-name-` label with it (`user-session-abc`), so a provider never sees `country-` alone.
 */
export function fillUsername(template: string, key: RouteKey): string {
  return template
    .replace(/([-_])(\w+)[-_]\{(\w+)\}/g, (whole, _sep: string, label: string, name: string) => (label === name && variable(key, name) === undefined ? '' : whole))
    .replace(/\{(\w+)\}/g, (_whole, name: string) => variable(key, name) ?? '');
}
