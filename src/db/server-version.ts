/** Which server push talks to, from `SELECT VERSION()`: MySQL and MariaDB differ in DDL push runs. */
export interface ServerVersion {
  flavor: 'MySQL' | 'MariaDB';
  major: number;
  minor: number;
  patch: number;
}

/** `8.0.36-0ubuntu0.22.04.1`, `10.11.19-MariaDB-0+deb12u1`, `5.5.5-10.6.4-MariaDB` (old handshake prefix). */
export function parseServerVersion(version: string): ServerVersion | undefined {
  const flavor = serverFlavorOf(version);
  const text = flavor === 'MariaDB' ? version.replace(/^5\.5\.5-/, '') : version;
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!match) return undefined;
  return { flavor, major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

export function serverFlavorOf(version: string): ServerVersion['flavor'] {
  return /mariadb/i.test(version) ? 'MariaDB' : 'MySQL';
}
