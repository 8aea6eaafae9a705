// Where a profiled server's time went (V8 CPU profiles from `node --cpu-prof`: BENCH_CPU_PROF,
// BENCH_SERVER_NODE_ARGS or BENCH_AB_NODE_ARGS="--cpu-prof --cpu-prof-dir=<dir>").
//
//   npm run profile -- timeline <file> [--mark <function>]   busy, GC and time beneath a function, per second
//   npm run profile -- top <file> [--from s] [--to s] [--under <function>] [--total]
//   npm run profile -- diff <a> <b> [--from s] [--to s] [--under <function>] [--total]
//   npm run profile -- callers <file> <function> [--depth n] [--from s] [--to s]
//
// `timeline` finds a phase's seconds (e.g. the window of a load, or of deferred audit indexing with
// --mark indexBatch); `top` and `diff` then say which functions took the time, by self time or
// (--total) with what they called; `diff` compares two runs of the same work (the baseline and the
// secured server of bench:auth-breakdown, the same benchmark on two commits). Functions are named
// `name file:line`; --under and callers take the name only.
import { parseArgs } from 'node:util';
import { byFunction, callers, largest, readProfile, type Sample, samples, select, timeline } from './lib/cpu-profile.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    under: { type: 'string' },
    mark: { type: 'string' },
    total: { type: 'boolean', default: false },
    depth: { type: 'string', default: '8' },
    limit: { type: 'string', default: '40' },
  },
});
const [command, ...files] = positionals;
const limit = Number(values.limit);
const window = {
  from: values.from === undefined ? undefined : Number(values.from),
  to: values.to === undefined ? undefined : Number(values.to),
  under: values.under,
};
const ms = (n: number) => n.toFixed(1).padStart(9);
const load = (file: string | undefined): Sample[] => {
  if (!file) throw new Error('a .cpuprofile file is needed (see the header of scripts/bench/profile.ts)');
  return samples(readProfile(file));
};
const busy = (picked: Sample[]) => picked.reduce((n, s) => n + s.ms, 0);

switch (command) {
  case 'timeline': {
    console.log(`second      busy        gc${values.mark ? `  ${values.mark}` : ''}`);
    for (const r of timeline(load(files[0]), values.mark)) {
      console.log(`${String(r.second).padStart(6)}${ms(r.busy)} ${ms(r.gc)}${values.mark ? ` ${ms(r.marked)}` : ''}`);
    }
    break;
  }
  case 'top': {
    const picked = select(load(files[0]), window);
    console.log(`busy ${busy(picked).toFixed(0)} ms; ${values.total ? 'total' : 'self'} ms by function`);
    for (const [k, v] of largest(byFunction(picked, values.total ? 'total' : 'self'), limit)) console.log(`${ms(v)}  ${k}`);
    break;
  }
  case 'diff': {
    const [a, b] = [select(load(files[0]), window), select(load(files[1]), window)];
    const mode = values.total ? 'total' : 'self';
    const [ma, mb] = [byFunction(a, mode), byFunction(b, mode)];
    console.log(`busy ${busy(a).toFixed(0)} → ${busy(b).toFixed(0)} ms; ${mode} ms by function: b − a, a, b`);
    const delta = new Map([...new Set([...ma.keys(), ...mb.keys()])].map((k) => [k, (mb.get(k) ?? 0) - (ma.get(k) ?? 0)]));
    const rows = [...delta].sort((x, y) => Math.abs(y[1]) - Math.abs(x[1])).slice(0, limit);
    for (const [k, d] of rows) console.log(`${ms(d)}${ms(ma.get(k) ?? 0)}${ms(mb.get(k) ?? 0)}  ${k}`);
    break;
  }
  case 'callers': {
    const fn = files[1];
    if (!fn) throw new Error('callers <file> <function>');
    for (const [k, v] of largest(callers(select(load(files[0]), window), fn, Number(values.depth)), limit)) console.log(`${ms(v)}  ${k}`);
    break;
  }
  default:
    console.error('usage: npm run profile -- timeline|top|diff|callers … (see scripts/bench/profile.ts)');
    process.exitCode = 2;
}
