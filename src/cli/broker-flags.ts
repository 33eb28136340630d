import { readFileSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { InputError, systemErrorText } from '../core/errors.js';
import type { BrokerOptions } from '../protocol/client.js';

/**
 * Flags for reaching an MQTT broker, shared by `run`, `agent` and `agents`. Secrets come
 * from files or the environment, never from a flag value, so they stay out of `ps` and
 * shell history.
 */
export const brokerFlags = {
  broker: Flags.string({
    description:
      'MQTT broker URL (mqtt:// or mqtts://). Without it, `run` starts an embedded broker and a local agent.',
    env: 'SCALPELS_BROKER',
    helpValue: 'url',
  }),
  'broker-username': Flags.string({
    description: 'Broker username.',
    env: 'SCALPELS_BROKER_USERNAME',
    helpValue: 'name',
  }),
  'broker-password-file': Flags.string({
    description: 'File holding the broker password (or env SCALPELS_BROKER_PASSWORD).',
    helpValue: 'file',
  }),
  'broker-ca': Flags.string({
    description: 'CA certificate (PEM) to verify an mqtts:// broker.',
    helpValue: 'file',
  }),
  'broker-cert': Flags.string({ description: 'Client certificate (PEM) for mqtts://.', helpValue: 'file' }),
  'broker-key': Flags.string({ description: 'Client key (PEM) for mqtts://.', helpValue: 'file' }),
  'secret-file': Flags.string({
    description:
      'Shared secret: commands are signed with it (HMAC-SHA256), agents refuse unsigned ones. Or env SCALPELS_SECRET.',
    env: 'SCALPELS_SECRET_FILE',
    helpValue: 'file',
  }),
};

/** `--broker` for the commands that have no embedded broker to fall back on (`agent`, `agents`). */
export const requiredBrokerFlag = Flags.string({
  description: 'MQTT broker URL (mqtt:// or mqtts://).',
  env: 'SCALPELS_BROKER',
  required: true,
  helpValue: 'url',
});

export interface BrokerFlagValues {
  broker?: string;
  'broker-username'?: string;
  'broker-password-file'?: string;
  'broker-ca'?: string;
  'broker-cert'?: string;
  'broker-key'?: string;
  'secret-file'?: string;
}

function readSecretFile(flag: string, file: string): Buffer {
  try {
    const content = readFileSync(file);
    // A trailing newline from `echo secret > file` is not part of the secret.
    return Buffer.from(content.toString('utf8').replace(/\r?\n$/, ''));
  } catch (err) {
    throw new InputError(`cannot read ${flag} ${file}: ${systemErrorText(err)}`);
  }
}

export function brokerOptions(flags: BrokerFlagValues, url: string): BrokerOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InputError(`--broker "${url}" is not a URL: expected mqtt://host:port or mqtts://host:port`);
  }
  if (!['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:'].includes(parsed.protocol)) {
    throw new InputError(
      `--broker "${parsed.protocol}" is not an MQTT URL scheme: expected mqtt:// or mqtts://`,
    );
  }
  const password = flags['broker-password-file']
    ? readSecretFile('--broker-password-file', flags['broker-password-file']).toString()
    : (process.env.SCALPELS_BROKER_PASSWORD ??
      (parsed.password ? decodeURIComponent(parsed.password) : undefined));
  return {
    url,
    username: flags['broker-username'] ?? (parsed.username ? decodeURIComponent(parsed.username) : undefined),
    password,
    ca: flags['broker-ca'] ? readSecretFile('--broker-ca', flags['broker-ca']) : undefined,
    cert: flags['broker-cert'] ? readSecretFile('--broker-cert', flags['broker-cert']) : undefined,
    key: flags['broker-key'] ? readSecretFile('--broker-key', flags['broker-key']) : undefined,
  };
}

/** The shared secret from --secret-file or SCALPELS_SECRET, if any. */
export function sharedSecret(flags: BrokerFlagValues): Buffer | undefined {
  if (flags['secret-file']) {
    const secret = readSecretFile('--secret-file', flags['secret-file']);
    if (secret.length < 16)
      throw new InputError(`--secret-file ${flags['secret-file']}: the secret must be at least 16 bytes`);
    return secret;
  }
  return process.env.SCALPELS_SECRET ? Buffer.from(process.env.SCALPELS_SECRET) : undefined;
}

/** Loopback brokers are reachable only from this node; anything else is a network. */
export function isLoopbackBroker(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
