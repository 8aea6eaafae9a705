// Offline checks of the deployment files (containers cannot run here): the Kubernetes manifests
// against the Kubernetes JSON schemas (kubernetes-models), the Dockerfile through a linter plus the
// rules we rely on, docker-compose.yml's services and healthchecks.
import { readdirSync, readFileSync } from 'node:fs';
import { DockerfileParser } from 'dockerfile-ast';
import { validate as lintDockerfile, ValidationSeverity } from 'dockerfile-utils';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { describe, expect, test } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { SERVER_NODE_FLAGS } from '../server/node-flags.ts';

const K8S = 'deploy/k8s';

// biome-ignore lint/suspicious/noExplicitAny: the manifests are untyped YAML
type Manifest = Record<string, any>;

const MODELS: Record<string, new (data: Manifest) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

function manifests(): { file: string; doc: Manifest }[] {
  return readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((file) =>
      parseAllDocuments(readFileSync(`${K8S}/${file}`, 'utf8')).map((d) => {
        expect(d.errors, file).toEqual([]);
        return { file, doc: d.toJSON() as Manifest };
      }),
    );
}

function byKind(kind: string, name: string): Manifest {
  const found = manifests().find((m) => m.doc.kind === kind && m.doc.metadata?.name === name);
  expect(found, `${kind}/${name}`).toBeDefined();
  return (found as { doc: Manifest }).doc;
}

describe('Kubernetes manifests', () => {
  test('every manifest is valid against the Kubernetes schema of its kind', () => {
    const all = manifests();
    expect(all.length).toBeGreaterThanOrEqual(10);
    for (const { file, doc } of all) {
      const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(Model, `${file}: no schema for ${doc.apiVersion}/${doc.kind}`).toBeDefined();
      expect(() => new Model(doc).validate(), file).not.toThrow();
    }
  });

  test('a broken manifest is caught by the schema check', () => {
    const bad = structuredClone(byKind('Deployment', 'emergisphere-server'));
    bad.spec.replicas = 'two';
    expect(() => new Deployment(bad).validate()).toThrow();
  });

  test('kustomization lists every manifest but the secret example', () => {
    const k = parse(readFileSync(`${K8S}/kustomization.yaml`, 'utf8')) as { resources: string[] };
    const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && !['kustomization.yaml', 'secret.example.yaml'].includes(f));
    expect([...k.resources].sort()).toEqual(files.sort());
  });

  test('the server: probes, limits, non-root, secrets from the environment, rolling update without downtime', () => {
    const d = byKind('Deployment', 'emergisphere-server');
    const c = d.spec.template.spec.containers[0];
    expect(c.livenessProbe.httpGet.path).toBe('/healthcheck');
    expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(c.resources.limits).toMatchObject({ cpu: expect.anything(), memory: expect.anything() });
    expect(c.resources.requests).toMatchObject({ cpu: expect.anything(), memory: expect.anything() });
    expect(d.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(c.envFrom).toEqual(expect.arrayContaining([{ secretRef: { name: 'emergisphere-secrets' } }]));
    expect(d.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(d.spec.replicas).toBeGreaterThanOrEqual(2);
    // No secret values in the manifests that are applied.
    for (const { file, doc } of manifests()) {
      if (file === 'secret.example.yaml') continue;
      expect(JSON.stringify(doc), file).not.toMatch(/PASSWORD"\s*:\s*"[^"]|CLIENT_SECRET"\s*:\s*"[^"]/);
    }
  });

  test('HPA targets the server Deployment; the migration Job runs the migrations', () => {
    const hpa = byKind('HorizontalPodAutoscaler', 'emergisphere-server');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'emergisphere-server' });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    const job = byKind('Job', 'emergisphere-migrate');
    const c = job.spec.template.spec.containers[0];
    expect(c.command).toEqual(['node', 'scripts/migrate.ts']);
    expect(c.env[0].valueFrom.secretKeyRef).toEqual({ name: 'emergisphere-secrets', key: 'DATABASE_URL' });
    const svc = byKind('Service', 'emergisphere-server');
    expect(svc.spec.selector).toEqual(byKind('Deployment', 'emergisphere-server').spec.selector.matchLabels);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync('Dockerfile', 'utf8');

  test('lints clean', () => {
    const problems = lintDockerfile(text, {
      instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
      instructionWorkdirRelative: ValidationSeverity.ERROR,
    });
    expect(problems.map((p) => `${p.range.start.line + 1}: ${p.message}`)).toEqual([]);
  });

  test('the linter catches a broken Dockerfile', () => {
    expect(lintDockerfile("FROM node:24\nWORKDIR app\nCMD ['node']\nEXPOSE abc\n").length).toBeGreaterThan(0);
  });

  test('multi-stage, Node 24, non-root, healthcheck, exec-form CMD', () => {
    const dockerfile = DockerfileParser.parse(text);
    const froms = dockerfile.getFROMs();
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const args = Object.fromEntries(dockerfile.getARGs().map((a) => [a.getProperty()?.getName(), a.getProperty()?.getValue()]));
    expect(args.NODE_VERSION).toBe('24');
    for (const f of froms) expect(f.getImageName()).toBe('node');
    const last = froms.at(-1)?.getRange().start.line ?? 0;
    const after = dockerfile.getInstructions().filter((i) => i.getRange().start.line > last);
    const user = after.filter((i) => i.getKeyword() === 'USER').at(-1);
    expect(user?.getArgumentsContent()).toBe('node');
    expect(after.some((i) => i.getKeyword() === 'HEALTHCHECK')).toBe(true);
    const cmd = after.filter((i) => i.getKeyword() === 'CMD').at(-1);
    expect(JSON.parse(cmd?.getArgumentsContent() ?? '')).toEqual(['node', ...SERVER_NODE_FLAGS, 'server/index.ts']);
    expect(text).toContain('npm ci --omit=dev');
    // The clinician app is built in its own stage and only its output is shipped.
    expect(text).toMatch(/RUN node scripts\/build-app\.ts/);
    expect(text).toMatch(/COPY --from=app \S+ \/app\/app\/dist \.\/app\/dist/);
    // Production never loads the demo hospital.
    expect(text).toMatch(/SEED=false/);
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Manifest> };

  test('PostgreSQL, Redis, migrations, two server replicas behind a load balancer, the HL7 bridge', () => {
    const s = compose.services;
    expect(Object.keys(s)).toEqual(expect.arrayContaining(['postgres', 'redis', 'migrate', 'server-1', 'server-2', 'lb', 'hl7-bridge']));
    for (const name of ['server-1', 'server-2']) {
      expect(s[name].environment.DATABASE_URL).toContain('@postgres:5432/');
      expect(s[name].environment.REDIS_URL).toBe('redis://redis:6379');
      expect(s[name].healthcheck.test.join(' ')).toContain('/health/ready');
      expect(s[name].depends_on.migrate.condition).toBe('service_completed_successfully');
    }
    const nginx = readFileSync('deploy/nginx/nginx.conf', 'utf8');
    expect(nginx).toMatch(/server server-1:8103/);
    expect(nginx).toMatch(/server server-2:8103/);
    expect(s.lb.volumes[0]).toContain('deploy/nginx/nginx.conf');
    expect(s['hl7-bridge'].command).toEqual(['node', 'hl7-bridge/main.ts']);
  });

  test('every long-running service has a healthcheck', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (name === 'migrate') continue;
      expect(svc.healthcheck?.test, name).toBeDefined();
    }
  });
});
