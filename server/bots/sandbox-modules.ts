/**
 * What a bot's `require` and `process` see inside its vm context.
 *
 * Vendor SDKs (Twilio, SendGrid, OpenAI, Stripe) bundled into a bot still `require` Node's network
 * and stream built-ins at load time, and read `process.versions`/`process.env`. Those are offered;
 * built-ins that reach the host (files, child processes, other threads, the inspector, the module
 * loader) are not. A few libraries require `fs` at load time only to test for file streams, so
 * `fs` answers with functions that throw when called instead of failing the whole bundle.
 */
import { createRequire, isBuiltin } from 'node:module';

const hostRequire = createRequire(import.meta.url);

/** Built-ins a bot may load: networking, streams, encoding and utilities. */
const ALLOWED_BUILTINS = new Set([
  'assert',
  'async_hooks',
  'buffer',
  'crypto',
  'diagnostics_channel',
  'dns',
  'dns/promises',
  'events',
  'http',
  'http2',
  'https',
  'net',
  'os',
  'path',
  'perf_hooks',
  'punycode',
  'querystring',
  'stream',
  'stream/promises',
  'stream/web',
  'string_decoder',
  'timers',
  'timers/promises',
  'tls',
  'tty',
  'url',
  'util',
  'util/types',
  'zlib',
]);

/** Built-ins that are present but inert: loading works, any call throws. */
const INERT_BUILTINS = new Set(['fs', 'fs/promises']);

function inertModule(name: string): unknown {
  const refuse = (): never => {
    throw new Error(`"${name}" is not available to bots`);
  };
  return new Proxy(refuse, {
    get: (_target, key) => (key === Symbol.toPrimitive ? () => `[${name}]` : refuse),
  });
}

/**
 * Builds a bot's `require`: `preloaded` modules first (the server's own @medplum/core, so bots
 * share its classes), then the allowed built-ins, with or without the `node:` prefix.
 */
export function botRequire(preloaded: Record<string, unknown>): (name: string) => unknown {
  const inert = new Map<string, unknown>();
  return (name: string) => {
    if (Object.hasOwn(preloaded, name)) {
      return preloaded[name];
    }
    const bare = name.startsWith('node:') ? name.slice(5) : name;
    if (isBuiltin(name) && ALLOWED_BUILTINS.has(bare)) {
      return hostRequire(`node:${bare}`);
    }
    if (INERT_BUILTINS.has(bare)) {
      let mod = inert.get(bare);
      if (!mod) {
        mod = inertModule(bare);
        inert.set(bare, mod);
      }
      return mod;
    }
    if (isBuiltin(name)) {
      throw new Error(`Cannot require "${name}" in a bot: it is not available to bots`);
    }
    throw new Error(`Cannot require "${name}" in a bot: bundle it into the bot code`);
  };
}

/**
 * The `process` a bot sees: versions and platform for SDKs' user-agent strings, an empty `env`
 * (configuration comes from `event.secrets`), `nextTick`/`hrtime`; no `exit`, `kill` or `chdir`.
 */
export function botProcess(): Record<string, unknown> {
  const noop = () => undefined;
  return {
    env: {},
    argv: [],
    version: process.version,
    versions: { ...process.versions },
    release: { ...process.release },
    platform: process.platform,
    arch: process.arch,
    pid: 0,
    title: 'bot',
    browser: false,
    cwd: () => '/',
    uptime: () => process.uptime(),
    hrtime: Object.assign((prev?: [number, number]) => process.hrtime(prev), { bigint: () => process.hrtime.bigint() }),
    memoryUsage: () => process.memoryUsage(),
    nextTick: (fn: (...a: unknown[]) => void, ...args: unknown[]) => process.nextTick(fn, ...args),
    emitWarning: noop,
    on: noop,
    once: noop,
    off: noop,
    removeListener: noop,
    listeners: () => [],
    stdout: { isTTY: false, write: () => true },
    stderr: { isTTY: false, write: () => true },
  };
}
