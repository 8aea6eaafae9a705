/**
 * A bot worker thread. The pool (pool.ts) starts several of these ahead of time with
 * `resourceLimits` and an empty environment; each runs one execution at a time. A bot's CommonJS
 * bundle is compiled once per code version and instantiated in its own `vm` context with
 * Medplum's bot globals. The worker is the containment boundary: the `vm` context only separates
 * globals, so whatever a bot does to this thread (loop forever, exhaust memory, call
 * process.exit) ends this worker alone, and the pool replaces it.
 */
import { format } from 'node:util';
import vm from 'node:vm';
import { parentPort } from 'node:worker_threads';
import * as core from '@medplum/core';
import { botProcess, botRequire } from './sandbox-modules.ts';

const { ContentType, Hl7Message, MedplumClient } = core;

export interface WorkerTask {
  id: number;
  /** Identifies the code version (bot id + Bot version + Binary); compiled once per worker. */
  codeKey: string;
  /** Sent only when this worker has not seen `codeKey` yet. */
  code?: string;
  filename: string;
  baseUrl: string;
  accessToken: string;
  logLimit: number;
  event: {
    bot: { reference: string; display?: string };
    contentType: string;
    input: unknown;
    secrets: Record<string, unknown>;
    traceId?: string;
    requester?: { reference?: string; display?: string };
    headers?: Record<string, string>;
  };
}

/** What the pool tells a worker when it starts it (workerData). */
export interface WorkerSettings {
  /** This thread's nice value (pool.ts: PoolOptions.nice). */
  nice: number;
  /** The server's compile cache directory (node:module getCompileCacheDir), if it has one. */
  compileCacheDir?: string;
}

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'result'; id: number; ok: boolean; returnValue?: unknown; error?: string; log: string; needCode?: boolean };

const port = parentPort;
if (!port) {
  throw new Error('worker.ts runs only as a worker thread');
}

/** Captured console output of the running execution, bounded to its last `limit` characters. */
class CapturedLog {
  private text = '';
  private dropped = false;
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  write(line: string): void {
    this.text += `${line}\n`;
    if (this.text.length > this.limit * 2) {
      this.text = this.text.slice(-this.limit);
      this.dropped = true;
    }
  }
  toString(): string {
    const over = this.text.length > this.limit;
    const body = over ? this.text.slice(-this.limit) : this.text;
    return (this.dropped || over ? '[earlier output truncated]\n' : '') + body.trimEnd();
  }
}

let current: CapturedLog | undefined;
const timers = new Set<ReturnType<typeof setTimeout>>();

function log(...args: unknown[]): void {
  current?.write(format(...args));
}

const botConsole = { log, info: log, debug: log, trace: log, warn: log, error: log, dir: log };

/** Bots share the server's @medplum/core; the rest of what they load comes from sandbox-modules.ts. */
const requireInBot = botRequire({ '@medplum/core': core });

function tracked<A extends unknown[], T>(start: (fn: (...a: A) => void, ...rest: A) => T, once: boolean) {
  return (fn: (...a: A) => void, ...rest: A): T => {
    const t = start(
      (...a: A) => {
        if (once) timers.delete(t as ReturnType<typeof setTimeout>);
        fn(...a);
      },
      ...rest,
    );
    timers.add(t as ReturnType<typeof setTimeout>);
    return t;
  };
}

const sandboxTimers = {
  setTimeout: tracked(setTimeout as (fn: (...a: unknown[]) => void, ...rest: unknown[]) => ReturnType<typeof setTimeout>, true),
  setInterval: tracked(setInterval as (fn: (...a: unknown[]) => void, ...rest: unknown[]) => ReturnType<typeof setInterval>, false),
  setImmediate: (fn: (...a: unknown[]) => void, ...args: unknown[]) => setImmediate(fn, ...args),
  clearTimeout: (t: ReturnType<typeof setTimeout>) => {
    timers.delete(t);
    clearTimeout(t);
  },
  clearInterval: (t: ReturnType<typeof setInterval>) => {
    timers.delete(t);
    clearInterval(t);
  },
  clearImmediate,
};

type Handler = (medplum: unknown, event: unknown) => unknown;
const MAX_MODULES = 64;
/** Instantiated bot modules by code version (insertion order = least recently used first). */
const modules = new Map<string, Handler>();

function instantiate(code: string, filename: string): Handler {
  const sandbox = {
    console: botConsole,
    fetch,
    ContentType,
    Hl7Message,
    MedplumClient,
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    Headers,
    Request,
    Response,
    AbortController,
    AbortSignal,
    Blob,
    File,
    FormData,
    ReadableStream,
    WritableStream,
    TransformStream,
    Event,
    EventTarget,
    DOMException,
    performance,
    crypto: globalThis.crypto,
    Buffer,
    atob,
    btoa,
    structuredClone,
    queueMicrotask,
    process: botProcess(),
    ...sandboxTimers,
  };
  const context = vm.createContext(sandbox, { name: filename, codeGeneration: { strings: true, wasm: false } });
  const wrapper = new vm.Script(`(function (exports, require, module, __filename, __dirname) {\n${code}\n})`, {
    filename,
    lineOffset: -1,
  });
  const fn = wrapper.runInContext(context) as (e: unknown, r: unknown, m: unknown, f: string, d: string) => void;
  const mod = { exports: {} as Record<string, unknown> };
  vm.runInContext('globalThis.global = globalThis;', context);
  fn.call(mod.exports, mod.exports, requireInBot, mod, filename, '/');
  const handler = (mod.exports.handler ?? (mod.exports.default as Record<string, unknown> | undefined)?.handler) as Handler | undefined;
  if (typeof handler !== 'function') {
    throw new Error('The bot code does not export a handler function (exports.handler)');
  }
  return handler;
}

/** Makes a bot's return value cloneable for postMessage. */
function portable(value: unknown, contentType: string): unknown {
  if (value === undefined || value === null || typeof value !== 'object') {
    return typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint' ? String(value) : value;
  }
  if (value instanceof Hl7Message || contentType === ContentType.HL7_V2) {
    return String(value);
  }
  if (value instanceof Uint8Array) {
    return value;
  }
  return JSON.parse(JSON.stringify(value));
}

function errorText(err: unknown): string {
  if (err instanceof Error || (err && typeof err === 'object' && 'message' in err)) {
    return String((err as Error).message);
  }
  return typeof err === 'object' ? JSON.stringify(err) : String(err);
}

async function run(task: WorkerTask): Promise<WorkerReply> {
  const captured = new CapturedLog(task.logLimit);
  current = captured;
  try {
    let handler = modules.get(task.codeKey);
    if (!handler) {
      if (task.code === undefined) {
        return { type: 'result', id: task.id, ok: false, needCode: true, log: '' };
      }
      handler = instantiate(task.code, task.filename);
      if (modules.size >= MAX_MODULES) {
        modules.delete(modules.keys().next().value as string);
      }
    } else {
      modules.delete(task.codeKey);
    }
    modules.set(task.codeKey, handler);

    const { event } = task;
    const medplum = new MedplumClient({
      baseUrl: task.baseUrl,
      fetch: (url: string | URL | Request, init: RequestInit = {}) => {
        const traceparent = event.headers?.traceparent;
        if (event.traceId || traceparent) {
          const headers = new Headers(init.headers);
          if (event.traceId) headers.set('X-Trace-Id', event.traceId);
          // The bot's own FHIR calls continue the delivery's trace (W3C Trace Context).
          if (traceparent) headers.set('traceparent', traceparent);
          init = { ...init, headers };
        }
        return fetch(url, init);
      },
    });
    medplum.setAccessToken(task.accessToken);
    let input = event.input;
    if (event.contentType === ContentType.HL7_V2 && typeof input === 'string' && input) {
      input = Hl7Message.parse(input);
    }
    const result = await handler(medplum, { ...event, input });
    return { type: 'result', id: task.id, ok: true, returnValue: portable(result, event.contentType), log: captured.toString() };
  } catch (err) {
    const message = errorText(err);
    captured.write(`Unhandled error: ${message}${err instanceof Error && err.stack ? `\n${err.stack}` : ''}`);
    return { type: 'result', id: task.id, ok: false, error: message, log: captured.toString() };
  } finally {
    for (const t of timers) clearInterval(t);
    timers.clear();
    current = undefined;
  }
}

// Stray failures of bot code (a rejected promise nobody awaited, a throw in a timer) are the
// bot's problem: they go to its log, never take the worker down.
process.on('unhandledRejection', (reason) => log('Unhandled rejection:', errorText(reason)));
process.on('uncaughtException', (err) => log('Uncaught exception:', errorText(err)));

port.on('message', (task: WorkerTask) => {
  void run(task).then((reply) => port.postMessage(reply));
});
port.postMessage({ type: 'ready' } satisfies WorkerReply);
