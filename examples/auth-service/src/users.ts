/**
 * The demo's users. A real service would keep password hashes in a database; two fixed accounts keep the demo about
 * code sharing, not user management.
 */
import { timingSafeEqual } from 'node:crypto';
import type { JwtUser } from './tokenValidator.ts';

const users: ReadonlyArray<JwtUser & { password: string }> = [
  { sub: '1', username: 'alice', role: 'admin', password: 'wonderland' },
  { sub: '2', username: 'bob', role: 'user', password: 'builder' },
];

/** The user with these credentials, or undefined. */
export function findUser(username: unknown, password: unknown): JwtUser | undefined {
  if (typeof username !== 'string' || typeof password !== 'string') return undefined;
  const match = users.find((user) => user.username === username);
  if (!match || !sameText(match.password, password)) return undefined;
  return { sub: match.sub, username: match.username, role: match.role };
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
