import { enableCompileCache } from 'node:module';

/**
 * The server's process entry. Node keeps the compiled code of every module it loads after this
 * call — V8's code cache and the TypeScript type-stripping output — in its compile cache (under
 * NODE_COMPILE_CACHE, else the OS temporary directory), so a restart skips about two seconds of
 * stripping and compiling the server's and its dependencies' sources. It has to run before those
 * modules are loaded, hence the dynamic import: a static one would be linked before this runs.
 */
enableCompileCache();
await import('./main.ts');
