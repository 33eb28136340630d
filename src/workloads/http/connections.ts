import { Client } from 'undici';
import { formatDuration } from '../../core/duration.js';
import { errorMessage } from '../../core/errors.js';
import type { IterationOutcome } from '../types.js';
import { check, describeError, type PreparedRequest, responseFields } from './request.js';

/**
 * What a request came to, shaped as the outcome of a one-request iteration (so that iteration
 * returns it as it is): `status` is absent when no response came.
 */
export interface RequestOutcome extends IterationOutcome {
  status?: number;
  bytes: number;
}

/**
 * Keep-alive connections to one origin, each lent to one request at a time. It does what
 * undici's Pool does for a workload whose concurrency is known, but without the Pool's
 * dispatcher search and queue on every request: an idle connection is popped from a stack and
 * pushed back when undici is done with its request. That keeps a request from queuing behind
 * another on a connection the Pool picked while a free one existed. New connections open on
 * demand, so there are about as many as the most requests in flight at once (the runner's
 * concurrency): one more for a while when a request stopped before its connection was up,
 * since undici holds that connection until it has reported back.
 */
export class Connections {
  private readonly idle: Connection[] = [];
  private readonly all: Connection[] = [];
  private readonly watchers = new AbortWatchers();

  constructor(private readonly origin: string) {}

  /** Sends `req` on an idle connection (or a new one); never rejects (see Connection). */
  send(req: PreparedRequest, signal: AbortSignal): Promise<RequestOutcome> {
    let connection = this.idle.pop();
    if (!connection) {
      connection = new Connection(new Client(this.origin, { pipelining: 1 }), this, this.watchers);
      this.all.push(connection);
    }
    return connection.send(req, signal);
  }

  /** Takes a connection back once undici is done with its request (ended, failed or aborted). */
  give(connection: Connection): void {
    this.idle.push(connection);
  }

  /** Closes every connection at once; keep-alive sockets the server holds open are not waited for. */
  async destroy(): Promise<void> {
    await Promise.all(this.all.map((c) => c.destroy()));
  }
}

/** Node's longest timer, 2^31 - 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Timer callback of Connection: a module-level function, so no closure is made per connection. */
function timeOut(connection: Connection): void {
  connection.onTimer();
}

/**
 * One keep-alive connection (an undici Client) and the request it carries, at most one at a
 * time, dispatched with undici's handler API rather than `request()`: no response stream per
 * request, the body counted (and kept only when a check needs it) chunk by chunk. The object
 * is also that request's handler, its abort watcher and its timer's argument, and it is reused
 * from request to request: at tens of thousands of requests a second, every object and
 * closure made per request is young-generation garbage, and collecting it is a large share of
 * the client's CPU.
 *
 * - The handler is undici's original one (onConnect, onHeaders, onData, onComplete, onError),
 *   which undici's own request() and stream() implement in undici 7. A handler of the newer
 *   API (onRequestStart…) is wrapped per request, and the wrapper parses every response's raw
 *   headers into an object to pass to onResponseStart, the only way that API gives the
 *   status: about 1.3 µs per request on the development VM, for headers nothing here reads.
 *   undici's types mark the original methods deprecated, so undici 8 may drop them: this
 *   class is the one place to change then (package.json keeps undici below 8).
 * - The timeout is one timer per connection, not one per request: a request notes when it
 *   started, and the timer, due no later than the request in flight's deadline, checks that
 *   request when it fires, and is set again for what is left of it. On a busy connection
 *   that is one timer per timeout period instead of one per request (setting or refreshing
 *   a timer cost about 0.5 µs per request). undici's own headers/body timeouts tick at a
 *   coarse resolution (up to a second late), so they are kept only as a backstop.
 * - The connection goes back to the idle stack when undici is done with the request, not
 *   when the request settles: a timed-out request holds its connection until undici has
 *   aborted it, so a late callback can never reach the next request.
 */
export class Connection {
  private req: PreparedRequest | undefined;
  private signal: AbortSignal | undefined;
  private resolve: ((response: RequestOutcome) => void) | undefined;
  private status: number | undefined;
  private bytes = 0;
  private chunks: Buffer[] | undefined;
  private abort: ((err: Error) => void) | undefined;
  private settled = true;
  private stopped: 'timeout' | 'abort' | undefined;
  /** performance.now() when the request in flight started. */
  private startedAt = 0;
  /** Set while a request may be in flight, due at `timerDue` (see onTimer). */
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  /** The signal this connection is registered with (see AbortWatchers). */
  private watched: AbortSignal | undefined;

  constructor(
    private readonly client: Client,
    private readonly connections: Connections,
    private readonly watchers: AbortWatchers,
  ) {}

  send(req: PreparedRequest, signal: AbortSignal): Promise<RequestOutcome> {
    return new Promise<RequestOutcome>((resolve) => {
      this.req = req;
      this.signal = signal;
      this.resolve = resolve;
      this.status = undefined;
      this.bytes = 0;
      this.chunks = req.readBody ? [] : undefined;
      this.abort = undefined;
      this.settled = false;
      this.stopped = undefined;
      if (signal.aborted) {
        this.stop('abort');
        this.connections.give(this);
        return;
      }
      this.startedAt = performance.now();
      const deadline = this.startedAt + req.timeoutMs;
      if (this.timer === undefined || this.timerDue > deadline) this.setTimer(req.timeoutMs);
      if (this.watched !== signal) {
        this.watchers.add(signal, this);
        this.watched = signal;
      }
      // Errors, even thrown ones, come back through onError.
      this.client.dispatch(req.dispatch, this);
    });
  }

  private setTimer(ms: number): void {
    clearTimeout(this.timer);
    // Beyond Node's longest timer (about 24.8 days) setTimeout would fire at once, every time;
    // a timeout that long is checked again when the shorter timer is due.
    const due = Math.min(ms, MAX_TIMER_MS);
    this.timer = setTimeout(timeOut, due, this);
    // Requests in flight keep the process alive through their sockets; the timer must not.
    this.timer.unref();
    this.timerDue = performance.now() + due;
  }

  /**
   * The timer is due: time out the request in flight if its deadline has passed, or set the
   * timer for what is left of it. An idle connection drops its timer; its next request sets one.
   */
  onTimer(): void {
    this.timer = undefined;
    if (this.settled) return;
    const left = this.startedAt + this.req!.timeoutMs - performance.now();
    if (left <= 0) this.stop('timeout');
    else this.setTimer(Math.ceil(left));
  }

  /** `signal` aborted: stop the request in flight if it is one of that signal's. */
  aborted(signal: AbortSignal): void {
    if (!this.settled && this.signal === signal) this.stop('abort');
  }

  private stop(why: 'timeout' | 'abort'): void {
    const req = this.req!;
    this.stopped = why;
    // Settle first: the abort reports an error of its own, which is then ignored.
    this.finish(
      why === 'timeout'
        ? `${req.label}: timed out after ${formatDuration(req.timeoutMs)}`
        : `${req.label}: interrupted`,
    );
    this.abort?.(new Error(why));
  }

  onConnect(abort: (err: Error) => void): void {
    this.abort = abort;
    if (this.stopped) abort(new Error(this.stopped));
  }

  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    this.chunks?.push(chunk);
    return true;
  }

  onComplete(): void {
    this.finish();
    this.connections.give(this);
  }

  onError(err: Error): void {
    if (!this.settled) {
      this.status = undefined;
      this.finish(describeError(err, this.req!));
    }
    this.connections.give(this);
  }

  private finish(error?: string): void {
    if (this.settled) return;
    this.settled = true;
    const status = this.status;
    if (!error && status !== undefined) {
      try {
        const text = this.chunks ? Buffer.concat(this.chunks).toString('utf8') : undefined;
        error = check(this.req!, status, text);
      } catch (err) {
        // A body too large to make a string of: the request fails, it must not hang.
        error = `${this.req!.label}: ${errorMessage(err)}`;
      }
    }
    const resolve = this.resolve!;
    this.resolve = undefined;
    this.chunks = undefined;
    // One shape for success and failure; the status is absent only when no response came.
    const bytes = this.bytes;
    resolve({ ok: error === undefined, error, fields: responseFields(status, bytes), status, bytes });
  }

  async destroy(): Promise<void> {
    clearTimeout(this.timer);
    await this.client.destroy().catch(() => {});
  }
}

/**
 * One abort listener per signal, however many requests wait on it: the step's signal is
 * shared by every iteration, and an EventTarget listener added and removed per request
 * costs more than the rest of the bookkeeping of a request. A connection registers once per
 * signal it has carried a request for, and stays registered; it ignores an abort that is not
 * its current request's.
 */
class AbortWatchers {
  private readonly bySignal = new WeakMap<AbortSignal, Set<Connection>>();

  add(signal: AbortSignal, connection: Connection): void {
    let set = this.bySignal.get(signal);
    if (!set) {
      const connections = new Set<Connection>();
      set = connections;
      this.bySignal.set(signal, connections);
      signal.addEventListener(
        'abort',
        () => {
          for (const c of connections) c.aborted(signal);
        },
        { once: true },
      );
    }
    set.add(connection);
  }
}
