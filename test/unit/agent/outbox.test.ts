import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BatchArchive } from '../../../src/agent/archive.js';
import { Outbox, type OutboxTransport } from '../../../src/agent/outbox.js';
import { silentLogger } from '../../../src/core/logger.js';
import { tempDir } from '../../helpers/cli.js';

/** A transport that can be cut and restored, recording what it delivered. */
function fakeTransport() {
  const delivered: string[] = [];
  const listeners: (() => void)[] = [];
  const t = {
    connected: true,
    delivered,
    async send(_topic: string, payload: Buffer) {
      if (!t.connected) throw new Error('connection closed');
      await new Promise((r) => setImmediate(r));
      delivered.push(payload.toString());
    },
    onConnect(l: () => void) {
      listeners.push(l);
    },
    reconnect() {
      t.connected = true;
      for (const l of listeners) l();
    },
  };
  return t satisfies OutboxTransport & Record<string, unknown>;
}

const msg = (i: number) => Buffer.from(`m${i}`);

describe('Outbox', () => {
  it('sends in order while connected', async () => {
    const t = fakeTransport();
    const box = new Outbox(t, { log: silentLogger });
    for (let i = 0; i < 5; i++) box.enqueue('t', msg(i));
    await box.idle();
    expect(t.delivered).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('queues while disconnected, spills past the memory limit, and delivers everything in order', async () => {
    const t = fakeTransport();
    const spool = tempDir();
    const box = new Outbox(t, { log: silentLogger, memoryLimit: 10, spoolDir: spool, chunkSize: 7 });
    t.connected = false;
    for (let i = 0; i < 50; i++) box.enqueue('t', msg(i));
    expect(box.pending).toBe(50);
    // 10 in memory, 40 on disk in chunks of 7.
    expect(readdirSync(spool)).toHaveLength(6);
    t.reconnect();
    // More arrive while it drains: they go behind the spilled ones.
    for (let i = 50; i < 60; i++) box.enqueue('t', msg(i));
    await box.idle();
    expect(t.delivered).toEqual(Array.from({ length: 60 }, (_, i) => `m${i}`));
    expect(readdirSync(spool)).toHaveLength(0);
    expect(box.dropped).toBe(0);
  });

  it('resends spilled messages left by a previous life first', async () => {
    const spool = tempDir();
    const t1 = fakeTransport();
    t1.connected = false;
    const first = new Outbox(t1, { log: silentLogger, memoryLimit: 0, spoolDir: spool });
    for (let i = 0; i < 3; i++) first.enqueue('t', msg(i));
    const t2 = fakeTransport();
    const second = new Outbox(t2, { log: silentLogger, spoolDir: spool });
    second.enqueue('t', msg(3));
    await second.idle();
    expect(t2.delivered).toEqual(['m0', 'm1', 'm2', 'm3']);
  });

  it('without a spool dir, drops the oldest beyond the limit and counts them', async () => {
    const t = fakeTransport();
    t.connected = false;
    const box = new Outbox(t, { log: silentLogger, memoryLimit: 3 });
    for (let i = 0; i < 5; i++) box.enqueue('t', msg(i));
    expect(box.dropped).toBe(2);
    t.reconnect();
    await box.idle();
    expect(t.delivered).toEqual(['m2', 'm3', 'm4']);
  });
});

describe('BatchArchive', () => {
  it('returns kept batches and evicts the oldest beyond its byte budget', () => {
    const a = new BatchArchive(10);
    a.keep('s', 0, Buffer.alloc(4));
    a.keep('s', 1, Buffer.alloc(4));
    expect(a.get('s', 0)?.length).toBe(4);
    a.keep('s', 2, Buffer.alloc(4));
    expect(a.get('s', 0)).toBeUndefined();
    expect(a.get('s', 2)?.length).toBe(4);
  });

  it('forgets a stream some time after it ended', () => {
    const a = new BatchArchive(1000, 100);
    a.keep('old', 0, Buffer.alloc(1));
    a.markEnded('old', 0);
    a.keep('new', 0, Buffer.alloc(1));
    a.markEnded('new', 150);
    expect(a.get('old', 0)).toBeUndefined();
    expect(a.get('new', 0)).toBeDefined();
  });
});
