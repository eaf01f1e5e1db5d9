/**
 * Which origins a host may fetch from: the origins of its configured remotes plus an explicit `allowedOrigins` list,
 * and plain `http:` only on loopback unless the host says `allowInsecureHttp: true`. The policy is decided once, when
 * the host is created, so a refused origin is refused before any connection is opened.
 */
import { InvalidOptionError } from '../../common/errors.ts';

/**
 * True for a loopback host name as the URL parser normalises it: `localhost`, any address in 127.0.0.0/8, or `[::1]`.
 * Other names are not resolved here: a name that happens to resolve to 127.0.0.1 is not treated as loopback.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === 'localhost' || host === '[::1]') return true;
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!octets) return false;
  return octets[1] === '127' && octets.slice(1).every((octet) => Number(octet) <= 255);
}

/**
 * Throws {@link InvalidOptionError} naming `option` when `url` is plain http to a host that is not loopback and
 * insecure http was not allowed: on any other network a plain-http manifest can be changed by anyone on the path,
 * and an unsigned remote would then run their code.
 */
export function requireSecureTransport(url: URL, option: string, allowInsecureHttp: boolean): void {
  if (url.protocol !== 'http:' || allowInsecureHttp || isLoopbackHost(url.hostname)) return;
  throw new InvalidOptionError(
    `createHost: ${option} uses plain http to ${url.host}, which is not a loopback address; anyone on the network ` +
      'path could read or change what the host loads. Serve the remote over https, or set `allowInsecureHttp: true` ' +
      'on the host if this network is trusted (the files are still checked against the manifest, and its signature ' +
      'when a publicKey is pinned).',
    { option, url: url.href },
  );
}

/**
 * Normalises the `allowedOrigins` option: each entry must be an http(s) origin (`https://cdn.example.com`, a
 * trailing `/` is accepted) with nothing after it, because a path would suggest a restriction ferry does not make.
 */
export function resolveAllowedOrigins(raw: unknown, allowInsecureHttp: boolean): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    throw new InvalidOptionError(
      'createHost: allowedOrigins must be a list of origins such as ["https://cdn.example.com"].',
      { option: 'allowedOrigins' },
    );
  }
  return raw.map((entry: unknown, index) => {
    const option = `allowedOrigins[${index}]`;
    let url: URL | undefined;
    try {
      url = typeof entry === 'string' ? new URL(entry) : undefined;
    } catch {
      url = undefined;
    }
    const bare = url && url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
    if (!url || !bare || (url.protocol !== 'http:' && url.protocol !== 'https:') || /[?#]$/.test(String(entry))) {
      throw new InvalidOptionError(
        `createHost: ${option} must be an http(s) origin with no path, such as "https://cdn.example.com", got ` +
          `${JSON.stringify(entry)}.`,
        { option },
      );
    }
    requireSecureTransport(url, option, allowInsecureHttp);
    return url.origin;
  });
}
