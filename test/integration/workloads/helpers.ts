import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tracerSchemas, workloadSchemas } from '../../../src/cli/catalog.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import type { RunObserver } from '../../../src/orchestrator/observer.js';
import { executeStep, type StepContext } from '../../../src/orchestrator/step-executor.js';
import type { SeriesTap } from '../../../src/orchestrator/thresholds.js';
import { loadScenario } from '../../../src/scenario/load.js';
import type { LoadedScenario } from '../../../src/scenario/types.js';
import type { StepRecord } from '../../../src/store/run-record.js';

/** A scenario from YAML text, as `scalpels run` loads it (file in `dir` for relative paths). */
export function scenarioOf(yaml: string, file = '/tmp/scenario.yaml'): LoadedScenario {
  return loadScenario(file, yaml, { tracers: tracerSchemas, workloads: workloadSchemas });
}

/** A sink that keeps samples in memory. */
export function memorySink() {
  const samples: Sample[] = [];
  return {
    samples,
    write: (s: Sample[]) => {
      samples.push(...s);
    },
    flush: async () => {},
    of: (measurement: string) => samples.filter((s) => s.measurement === measurement),
  };
}

/** Runs step `index` of a scenario in process, as run.ts does, and returns its record and samples. */
export async function runStep(
  loaded: LoadedScenario,
  opts: {
    index?: number;
    signal?: AbortSignal;
    observer?: RunObserver;
    tap?: SeriesTap;
    drainTracers?: () => Promise<void>;
  } = {},
): Promise<{ record: StepRecord; sink: ReturnType<typeof memorySink> }> {
  const sink = memorySink();
  const index = opts.index ?? 0;
  const ctx: StepContext = {
    loaded,
    runId: 'r1',
    sink,
    log: silentLogger,
    observer: opts.observer ?? {},
    signal: opts.signal ?? new AbortController().signal,
    tap: opts.tap,
    drainTracers: opts.drainTracers,
  };
  const record = await executeStep(loaded.scenario.steps[index], index, ctx);
  return { record, sink };
}

/** A local HTTP server for workload tests; it counts requests and the most in flight at once. */
export interface TestServer {
  url: string;
  port: number;
  requests: number;
  inFlight: number;
  maxInFlight: number;
  /** TCP connections accepted so far: with keep-alive, far fewer than requests. */
  connections: number;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;

export async function startServer(handler: Handler): Promise<TestServer> {
  const state = { requests: 0, inFlight: 0, maxInFlight: 0, connections: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    res.on('close', () => {
      state.inFlight--;
    });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      void handler(req, res, body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', () => {
    state.connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return state.requests;
    },
    get inFlight() {
      return state.inFlight;
    },
    get maxInFlight() {
      return state.maxInFlight;
    },
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  } as TestServer;
}

/** Routes for the test server: /ok, /json, /status/<code>, /slow/<ms>, /echo. */
export const routes: Handler = async (req, res, body) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const [, first, arg] = url.pathname.split('/');
  if (first === 'status') {
    res.writeHead(Number(arg));
    return void res.end(`status ${arg}`);
  }
  if (first === 'slow') {
    await new Promise((r) => setTimeout(r, Number(arg)));
    res.writeHead(200);
    return void res.end('slow');
  }
  if (first === 'json') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return void res.end(JSON.stringify({ status: 'ok', items: [{ id: 1 }, { id: 2, name: 'b' }] }));
  }
  if (first === 'echo') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return void res.end(JSON.stringify({ method: req.method, headers: req.headers, body }));
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('hello world');
};
