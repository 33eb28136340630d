/**
 * Where an InfluxStore points, parsed once from the `--influx` URL, and how credentials are
 * kept out of every message: the URL a user sees is always the redacted one.
 */
import { InputError } from '../../core/errors.js';

/** A parsed `--influx` URL: `http(s)://host[:port][/prefix]/<database>[?rp=<retention policy>]`. */
export interface InfluxTarget {
  /** `http:` or `https:`. */
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  /**
   * Path before the database, without a trailing slash ("" for none): InfluxDB behind a
   * reverse proxy at `https://proxy/influx/scalpels` has the prefix `/influx`.
   */
  prefix: string;
  database: string;
  /** The retention policy to write to and read from; the database's default when absent. */
  retentionPolicy?: string;
  /** The URL without credentials, for messages and `location()`. */
  display: string;
}

/** Credentials for InfluxDB's basic authentication (InfluxDB 2.x/3.x: a token as the password). */
export interface InfluxCredentials {
  username?: string;
  password?: string;
}

/**
 * Parses an `--influx` URL. Credentials in the URL itself are refused: they would end up in
 * shell history, process listings and CI logs, which is what the flags and env vars avoid.
 *
 * @throws InputError naming what is wrong, with the URL redacted.
 */
export function parseInfluxUrl(text: string): InfluxTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError(
      `--influx ${JSON.stringify(redactUrl(text))} is not a URL; expected http://host:8086/<database>`,
    );
  }
  const display = redactUrl(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(`--influx ${display}: expected an http:// or https:// URL`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new InputError(
      `--influx ${display}: put credentials in --influx-username/--influx-password-file or SCALPELS_INFLUX_USERNAME/SCALPELS_INFLUX_PASSWORD, not in the URL`,
    );
  }
  const parts = url.pathname.split('/').filter((p) => p !== '');
  if (parts.length === 0) {
    throw new InputError(
      `--influx ${display}: the URL names no database; expected http://host:8086/<database>`,
    );
  }
  const database = decodeURIComponent(parts[parts.length - 1]);
  const prefix = parts
    .slice(0, -1)
    .map((p) => `/${p}`)
    .join('');
  for (const key of url.searchParams.keys()) {
    if (key !== 'rp') throw new InputError(`--influx ${display}: unknown URL parameter "${key}" (only rp=)`);
  }
  const rp = url.searchParams.get('rp') ?? undefined;
  if (rp === '') throw new InputError(`--influx ${display}: rp= is empty`);
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return {
    protocol: url.protocol,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    prefix,
    database,
    retentionPolicy: rp,
    display,
  };
}

/** The URL with any user info replaced by `***`, for messages. Works on text that is not a URL too. */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

/**
 * Replaces every occurrence of a secret in a message with `***`. Error texts from HTTP
 * libraries can quote a request line or header; this is the last line of defence.
 */
export function redactSecrets(message: string, credentials: InfluxCredentials): string {
  let out = message;
  for (const secret of [credentials.password]) {
    if (secret !== undefined && secret.length >= 3) out = out.split(secret).join('***');
  }
  if (credentials.password !== undefined && credentials.username !== undefined) {
    const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
    out = out.split(basic).join('***');
  }
  return out;
}
