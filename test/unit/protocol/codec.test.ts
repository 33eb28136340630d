import { describe, expect, it } from 'vitest';
import { topicMatches } from '../../../src/protocol/client.js';
import { decodeMessage, encodeMessage, envelope, ProtocolError } from '../../../src/protocol/codec.js';
import type {
  PingRequest,
  ReplyMessage,
  RunCommandRequest,
  StartTracerRequest,
} from '../../../src/protocol/messages.js';
import { RequestVerifier, signRequest } from '../../../src/protocol/signing.js';

const start = () =>
  envelope<StartTracerRequest>({
    type: 'start',
    replyTo: 'scalpels/v1/clients/r/reply',
    run: '20261124-000000-abcd',
    scenario: 'demo',
    step: null,
    stream: 'run.0.proc',
    tracer: 'proc',
    params: {},
    intervalMs: 1000,
    leaseMs: 30000,
  });

describe('codec', () => {
  it('round-trips a valid message', () => {
    const m = start();
    expect(decodeMessage(encodeMessage(m))).toEqual(m);
  });

  it.each([
    ['not JSON', 'not json', 'malformed'],
    ['an array', '[1]', 'malformed'],
    ['another version', JSON.stringify({ ...start(), v: 2 }), 'unsupported-version'],
    ['an unknown type', JSON.stringify({ ...start(), type: 'launch' }), 'invalid'],
    ['an extra field', JSON.stringify({ ...start(), command: 'rm -rf /' }), 'invalid'],
    ['a stream name with a topic separator', JSON.stringify({ ...start(), stream: 'a/b' }), 'invalid'],
  ])('refuses %s', (_what, payload, code) => {
    try {
      decodeMessage(payload);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).code).toBe(code);
    }
  });

  it('refuses an oversized payload before parsing it', () => {
    expect(() => decodeMessage(Buffer.alloc(5 * 1024 * 1024, 32))).toThrow(/exceeds/);
  });

  it('says which versions disagree', () => {
    expect(() => decodeMessage(JSON.stringify({ ...start(), v: 2 }))).toThrow(
      /unsupported protocol version 2: this side speaks v1/,
    );
  });
});

describe('run-command', () => {
  const runCommand = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      ...envelope<RunCommandRequest>({
        type: 'run-command',
        replyTo: 'scalpels/v1/clients/r/reply',
        run: '20261124-000000-abcd',
        command: 'restart-keystone',
        timeoutMs: 60_000,
      }),
      ...extra,
    });

  it('carries the name of a catalog entry and a timeout', () => {
    expect(decodeMessage(runCommand())).toMatchObject({ type: 'run-command', command: 'restart-keystone' });
  });

  it.each([
    ['a command line instead of a name', { command: 'systemctl restart keystone' }],
    ['an argv beside the name', { argv: ['/bin/sh', '-c', 'rm -rf /'] }],
    ['no timeout', { timeoutMs: undefined }],
    ['a zero timeout', { timeoutMs: 0 }],
  ])('refuses %s', (_what, extra) => {
    expect(() => decodeMessage(runCommand(extra))).toThrow(ProtocolError);
  });

  it('is signed like every request: a changed name breaks the signature', () => {
    const secret = Buffer.from('s3cret');
    const signed = signRequest(JSON.parse(runCommand()) as RunCommandRequest, secret);
    expect(new RequestVerifier(secret).verify(signed)).toBeUndefined();
    expect(new RequestVerifier(secret).verify({ ...signed, command: 'wipe-disks' })).toBe('forged');
  });

  it("replies with the command's end, also on a timeout", () => {
    const reply = envelope<ReplyMessage>({
      type: 'reply',
      re: 'x',
      ok: false,
      error: { code: 'command-timeout', message: 'command "slow" timed out after 500ms' },
      result: { exitCode: null, signal: 'SIGKILL', durationMs: 503.2, output: 'started' },
    });
    expect(decodeMessage(encodeMessage(reply))).toEqual(reply);
    expect(() =>
      decodeMessage(JSON.stringify({ ...reply, error: { code: 'no-such-code', message: 'x' } })),
    ).toThrow(ProtocolError);
  });
});

describe('signing', () => {
  const secret = Buffer.from('s3cret');
  const ping = () => envelope<PingRequest>({ type: 'ping', replyTo: 'x' });

  it('accepts a signed request once, and refuses its replay', () => {
    const verifier = new RequestVerifier(secret);
    const signed = signRequest(ping(), secret);
    expect(verifier.verify(signed)).toBeUndefined();
    expect(verifier.verify(signed)).toBe('replayed');
  });

  it('refuses unsigned, forged and stale requests', () => {
    const verifier = new RequestVerifier(secret, 30_000);
    expect(verifier.verify(ping())).toBe('unsigned');
    expect(verifier.verify(signRequest(ping(), Buffer.from('wrong')))).toBe('forged');
    const tampered = { ...signRequest(start(), secret), tracer: 'process' };
    expect(verifier.verify(tampered)).toBe('forged');
    const old = signRequest({ ...ping(), ts: Date.now() - 60_000 }, secret);
    expect(verifier.verify(old)).toBe('stale');
  });
});

describe('topicMatches', () => {
  it('follows MQTT wildcard rules', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+/c', 'a/b/d')).toBe(false);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/b', 'a/b/c')).toBe(false);
  });
});
