import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The nvme-cli binary the expose tests drive: `nvme` on PATH, else where Debian installs it (/usr/sbin is
 * often not on a user's PATH). Missing, it stays "nvme" and the tests fail saying so: they never skip.
 */
export const NVME = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin']
  .map((d) => join(d, 'nvme')).find((p) => p.startsWith('/') && existsSync(p)) ?? 'nvme';
