import { readFileSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { InputError, RuntimeFailure, systemErrorText } from '../core/errors.js';
import { startEmbeddedBroker } from '../orchestrator/embedded-broker.js';

function readFile(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new InputError(`cannot read ${flag} ${file}: ${systemErrorText(err)}`);
  }
}

/** Why the broker cannot listen, in one sentence: the usual causes have their own words. */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): string {
  if (err.code === 'EADDRINUSE') return `port ${port} is already in use on ${host}`;
  if (err.code === 'EACCES') return `no permission to listen on port ${port} (ports below 1024 need root)`;
  return `cannot listen on ${host}:${port}: ${systemErrorText(err)}`;
}

export default class Broker extends BaseCommand {
  static summary = 'Run the embedded MQTT broker (aedes) for small setups without Mosquitto.';
  static description =
    'MQTT 3.1.1 over TCP, or TLS with --tls-cert/--tls-key. With --username and --password-file (or env SCALPELS_BROKER_PASSWORD) clients must authenticate. Keeps retained messages and sessions in memory: a restart forgets them (agents re-announce themselves).';
  static examples = [
    '<%= config.bin %> broker --port 1883',
    '<%= config.bin %> broker --host 0.0.0.0 --port 8883 --tls-cert cert.pem --tls-key key.pem --username scalpels --password-file /etc/scalpels/broker-password',
  ];
  static flags = {
    host: Flags.string({ description: 'Address to listen on.', default: '127.0.0.1' }),
    port: Flags.integer({
      description: 'Port to listen on (0 picks a free one).',
      default: 1883,
      min: 0,
      max: 65_535,
    }),
    username: Flags.string({ description: 'Require this username.', helpValue: 'name' }),
    'password-file': Flags.string({ description: 'File holding the required password.', helpValue: 'file' }),
    'tls-cert': Flags.string({
      description: 'Server certificate (PEM).',
      helpValue: 'file',
      dependsOn: ['tls-key'],
    }),
    'tls-key': Flags.string({ description: 'Server key (PEM).', helpValue: 'file', dependsOn: ['tls-cert'] }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Broker);
    const password = flags['password-file']
      ? readFile('--password-file', flags['password-file'])
          .toString()
          .replace(/\r?\n$/, '')
      : process.env.SCALPELS_BROKER_PASSWORD;
    if (flags.username && !password)
      throw new InputError('--username needs --password-file (or env SCALPELS_BROKER_PASSWORD)');
    const tls =
      flags['tls-cert'] && flags['tls-key']
        ? { cert: readFile('--tls-cert', flags['tls-cert']), key: readFile('--tls-key', flags['tls-key']) }
        : undefined;
    const broker = await startEmbeddedBroker({
      host: flags.host,
      port: flags.port,
      credentials: flags.username ? { username: flags.username, password: password! } : undefined,
      tls,
    }).catch((err: NodeJS.ErrnoException) => {
      throw new RuntimeFailure(listenError(err, flags.host, flags.port), { cause: err });
    });
    this.log(`broker listening on ${broker.url}${flags.username ? ' (authentication required)' : ''}`);
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    });
    await broker.close();
  }
}
