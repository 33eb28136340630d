import { connect, type Socket } from 'node:net';

/** A RESP reply: simple/bulk strings, integers, arrays, or null. */
export type RespValue = string | number | null | RespValue[];

/**
 * The smallest Redis client the osprofiler tracer needs (AUTH, SCAN, LRANGE, DEL): RESP2 over
 * one TCP connection, commands pipelined in order. No npm Redis client is a dependency of the
 * project, and these four commands do not justify one.
 */
export class RespClient {
  private buf = Buffer.alloc(0);
  private readonly waiting: { resolve(v: RespValue): void; reject(e: Error): void }[] = [];
  private closed?: Error;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.drain();
    });
    const fail = (err: Error) => {
      this.closed ??= err;
      for (const w of this.waiting.splice(0)) w.reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('redis connection closed')));
  }

  /** Connects to host:port; rejects after `timeoutMs`. */
  static open(host: string, port: number, timeoutMs = 5000): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`redis ${host}:${port}: connect timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(new RespClient(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`redis ${host}:${port}: ${err.message}`));
      });
    });
  }

  /** Sends one command; resolves with its reply, rejects with a Redis error reply. */
  command(...args: (string | number)[]): Promise<RespValue> {
    if (this.closed) return Promise.reject(this.closed);
    const parts = [`*${args.length}\r\n`];
    for (const a of args) {
      const s = String(a);
      parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(parts.join(''));
    });
  }

  close(): void {
    this.closed ??= new Error('redis connection closed');
    this.socket.destroy();
  }

  private drain(): void {
    while (this.waiting.length > 0) {
      const r = parseReply(this.buf, 0);
      if (!r) return;
      this.buf = this.buf.subarray(r.end);
      const w = this.waiting.shift()!;
      if (r.error) w.reject(new Error(`redis: ${r.error}`));
      else w.resolve(r.value);
    }
  }
}

/** Parses one reply at `at`; undefined when the buffer does not hold all of it yet. */
export function parseReply(
  buf: Buffer,
  at: number,
): { value: RespValue; end: number; error?: string } | undefined {
  const nl = buf.indexOf('\r\n', at);
  if (nl < 0) return undefined;
  const type = String.fromCharCode(buf[at]);
  const line = buf.toString('utf8', at + 1, nl);
  const next = nl + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: null, end: next, error: line };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, pos);
        if (!r) return undefined;
        items.push(r.value);
        pos = r.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`redis: unexpected reply type ${JSON.stringify(type)}`);
  }
}
