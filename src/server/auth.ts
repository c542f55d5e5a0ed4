import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { BadRequestError } from '../errors.js';
import { parseTier, type Tier } from '../policy/tiers.js';

/**
 * Tokens for `mbxmux serve --tokens FILE` (README "Serving programs and agents"). The file is JSON:
 *
 *   { "tokens": [
 *       { "name": "ci-reader", "token": "<at least 32 characters>", "maxTier": "debug-read", "hosts": [0] },
 *       { "name": "fm", "sha256": "<64 hex digits: SHA-256 of the token>", "maxTier": "fabric-destructive",
 *         "hosts": [0, 1], "fabricManager": true } ] }
 *
 * Each token carries the session's caps: its highest tier (default debug-read), the hosts it may act for
 * (default [0]; the first is the default host) and the fabric-manager right (default false). A token is
 * given in plain (`token`; the file must then be readable by its owner only) or as its SHA-256 (`sha256`).
 * A presented token is hashed and compared with every entry's digest by crypto.timingSafeEqual on the
 * fixed-length digests, all entries every time, so neither the time taken nor an early exit tells how much
 * of a guess was right, or which entry it came near.
 */

export interface TokenSpec {
  /** shown in logs, the session name and audit records (letters, digits, . _ -; at most 64) */
  name: string;
  /** the token itself (at least 32 characters), or */
  token?: string;
  /** the SHA-256 of the token as 64 hex digits */
  sha256?: string;
  /** the highest tier a session with this token gets (default debug-read) */
  maxTier?: Tier;
  /** hosts a session with this token may act for (default [0]); a hello without host gets the first */
  hosts?: number[];
  /** may open fabric-manager sessions (default false) */
  fabricManager?: boolean;
}

export interface TokenGrant {
  name: string;
  maxTier: Tier;
  hosts: readonly number[];
  fabricManager: boolean;
}

interface Entry extends TokenGrant {
  digest: Buffer;
}

const MIN_TOKEN_CHARS = 32;
const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const digestOf = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class TokenStore {
  private readonly entries: Entry[];

  constructor(specs: readonly TokenSpec[], where = 'tokens') {
    if (!Array.isArray(specs) || specs.length === 0) throw new BadRequestError(`${where}: needs a non-empty "tokens" array`);
    const names = new Set<string>();
    const digests = new Set<string>();
    this.entries = specs.map((s, i) => {
      const at = `${where}: tokens[${i}]`;
      if (typeof s !== 'object' || s === null) throw new BadRequestError(`${at} must be an object`);
      for (const k of Object.keys(s)) {
        if (!['name', 'token', 'sha256', 'maxTier', 'hosts', 'fabricManager'].includes(k)) throw new BadRequestError(`${at} has an unknown field "${k.slice(0, 40)}"`);
      }
      if (typeof s.name !== 'string' || !NAME_RE.test(s.name)) throw new BadRequestError(`${at}.name must be 1-64 letters, digits, ".", "_" or "-"`);
      if (names.has(s.name)) throw new BadRequestError(`${at}: the name "${s.name}" is used twice`);
      names.add(s.name);
      if ((s.token === undefined) === (s.sha256 === undefined)) throw new BadRequestError(`${at} needs exactly one of "token" or "sha256"`);
      let digest: Buffer;
      if (s.token !== undefined) {
        if (typeof s.token !== 'string' || s.token.length < MIN_TOKEN_CHARS) {
          throw new BadRequestError(`${at}.token must be a string of at least ${MIN_TOKEN_CHARS} characters (e.g. the output of: openssl rand -hex 32)`);
        }
        digest = digestOf(s.token);
      } else {
        if (typeof s.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(s.sha256)) throw new BadRequestError(`${at}.sha256 must be 64 hex digits (sha256sum of the token)`);
        digest = Buffer.from(s.sha256, 'hex');
      }
      const hex = digest.toString('hex');
      if (digests.has(hex)) throw new BadRequestError(`${at}: the same token appears twice`);
      digests.add(hex);
      let maxTier: Tier;
      try {
        maxTier = parseTier(s.maxTier ?? 'debug-read');
      } catch (e) {
        throw new BadRequestError(`${at}.maxTier: ${(e as Error).message}`);
      }
      const hosts = s.hosts ?? [0];
      if (!Array.isArray(hosts) || hosts.length === 0 || hosts.length > 65536 || !hosts.every((h) => Number.isInteger(h) && h >= 0 && h <= 65535)) {
        throw new BadRequestError(`${at}.hosts must be a non-empty array of host ids from 0 to 65535`);
      }
      if (s.fabricManager !== undefined && typeof s.fabricManager !== 'boolean') throw new BadRequestError(`${at}.fabricManager must be true or false`);
      return { name: s.name, digest, maxTier, hosts: [...hosts], fabricManager: s.fabricManager === true };
    });
  }

  /** Reads a token file. A file holding plain tokens must not be readable by group or others (chmod 600). */
  static load(file: string): TokenStore {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new BadRequestError(`cannot read the token file ${file}: ${(e as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new BadRequestError(`the token file ${file} is not JSON: ${(e as Error).message}`);
    }
    const tokens = (doc as { tokens?: unknown } | null)?.tokens;
    const store = new TokenStore(tokens as TokenSpec[], `token file ${file}`);
    const plain = Array.isArray(tokens) && tokens.some((t) => typeof t === 'object' && t !== null && 'token' in t);
    if (plain && process.platform !== 'win32') {
      const mode = statSync(file).mode & 0o777;
      if ((mode & 0o077) !== 0) {
        throw new BadRequestError(`the token file ${file} holds plain tokens and is readable by others (mode ${mode.toString(8).padStart(3, '0')}); `
          + `run chmod 600 ${file}, or store "sha256" digests instead of "token"`);
      }
    }
    return store;
  }

  get size(): number {
    return this.entries.length;
  }

  /** The grant of the entry whose token this is, or null. Constant time in the token's value. */
  authenticate(token: unknown): TokenGrant | null {
    if (typeof token !== 'string') return null;
    const d = digestOf(token);
    let found: Entry | null = null;
    for (const e of this.entries) {
      // every entry is compared (no early exit): the time depends only on how many entries there are
      if (timingSafeEqual(d, e.digest)) found = e;
    }
    return found === null ? null : { name: found.name, maxTier: found.maxTier, hosts: found.hosts, fabricManager: found.fabricManager };
  }
}
