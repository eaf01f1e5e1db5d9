/**
 * What the inspector never shows: credentials and query strings in URLs (a manifest URL may carry a token), and the
 * pinned keys themselves (a short key id stands for each).
 */
import { createHash } from 'node:crypto';

/** `https://user:secret@cdn.example/a/mf-manifest.json?sig=…` → `https://cdn.example/a/mf-manifest.json`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    parsed.hash = '';
    return parsed.href;
  } catch {
    return '[invalid URL]';
  }
}

/** Every URL in a message, redacted as {@link redactUrl} does. */
export function redactText(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>()]+/gi, (url) => {
    const trailing = /[.,;:]$/.test(url) ? url.slice(-1) : '';
    return redactUrl(trailing ? url.slice(0, -1) : url) + trailing;
  });
}

/** A short, stable id for a pinned public key: the first 16 hex digits of its SHA-256. */
export function keyIdOf(publicKey: string): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}
