// The auth-cost benchmark's baseline (scripts/bench/auth-cost.ts): our server with its security
// turned off, to measure what authentication, access policies and the audit trail cost. Not a way
// to run the server: it is only ever started by the benchmark, on a scratch database, on 127.0.0.1.
//
// What "off" means here: a bearer token is verified on its first request only, then trusted by its
// exact value (no JWT check, no login lookup); every request acts without an AccessPolicy (no SQL
// criteria); nothing is audited. Routing, validation, the repository and the database are the same.
import '../../../server/heap.ts';
import type { AuditEvent } from '@medplum/fhirtypes';
import type { AuditLog } from '../../../server/audit/audit-log.ts';
import { UNRESTRICTED } from '../../../server/auth/access-policy.ts';
import type { AuthContext } from '../../../server/auth/context.ts';
import type { AuthService } from '../../../server/auth/service.ts';
import { loadConfig } from '../../../server/config.ts';
import { youngGenerationMayGrow } from '../../../server/heap.ts';
import type { SecurityDeps } from '../../../server/http/security.ts';
import { idleGcFromEnv, startIdleGc } from '../../../server/ops/idle-gc.ts';
import { startServer } from '../../../server/server.ts';

if (!['127.0.0.1', 'localhost', '::1'].includes(process.env.HOST ?? '')) {
  throw new Error('the baseline server only listens on a loopback HOST (it answers without checking tokens)');
}

/**
 * BENCH_BASELINE_KEEP (comma list of audit, policy, auth): parts left on, to see what each costs
 * (e.g. `audit` alone: the audit trail's share of the secured server's cost). Empty: all off.
 */
const keep = new Set((process.env.BENCH_BASELINE_KEEP ?? '').split(',').filter(Boolean));

function withoutSecurity(real: SecurityDeps): SecurityDeps {
  // One unrestricted copy per context (the real service caches its contexts), unless policy is kept.
  const copies = new WeakMap<AuthContext, AuthContext>();
  const asKept = (ctx: AuthContext): AuthContext => {
    if (keep.has('policy')) return ctx;
    let copy = copies.get(ctx);
    if (!copy) {
      copy = { ...ctx, policy: UNRESTRICTED };
      copies.set(ctx, copy);
    }
    return copy;
  };
  // Instances whose prototype is the real one: every other method behaves as it does in the server.
  const auth = Object.create(real.auth) as AuthService;
  if (keep.has('auth')) {
    auth.cachedContext = (authorization) => {
      const ctx = real.auth.cachedContext(authorization);
      return ctx && asKept(ctx);
    };
    auth.authenticate = async (authorization) => asKept(await real.auth.authenticate(authorization));
  } else {
    // Verified on its first request, then trusted by its exact value.
    const trusted = new Map<string, AuthContext>();
    auth.cachedContext = (authorization) => trusted.get(authorization ?? '');
    auth.authenticate = async (authorization) => {
      const key = authorization ?? '';
      let ctx = trusted.get(key);
      if (!ctx) {
        ctx = asKept(await real.auth.authenticate(authorization));
        trusted.set(key, ctx);
      }
      return ctx;
    };
  }
  if (keep.has('audit')) {
    return { auth, limits: real.limits, audit: real.audit };
  }
  const audit = Object.create(real.audit) as AuditLog;
  audit.record = (_event: AuditEvent) => Promise.resolve();
  audit.recordRest = () => Promise.resolve();
  return { auth, limits: real.limits, audit };
}

const server = await startServer(loadConfig(), { security: withoutSecurity });
// The heap as the real entry (server/main.ts) runs it.
youngGenerationMayGrow();
const idleGc = idleGcFromEnv(process.env);
if (idleGc)
  startIdleGc(
    idleGc,
    () => server.metrics.httpAnswered,
    (info) => server.metrics.idleCollections.observe(info.ms / 1000),
  );
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
