// deploy/kubernetes/: valid API objects (kubernetes-models: the official OpenAPI schemas and their
// generated types), and the deployment issue 13 asks for: a Deployment per role with liveness on
// /healthz and readiness on /readyz, sized requests, a PodDisruptionBudget each, non-root with a
// read-only root filesystem, configuration from a ConfigMap and secrets from a Secret that push
// accepts, a shutdown that fits in terminationGracePeriodSeconds, and the migration as a Job that
// rollout.sh runs to completion before any Deployment is applied.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SETTING_NAMES } from '../../src/config.js';
import {
  containerOf,
  environmentOf,
  find,
  podSpecOf,
  readManifests,
  ROLES,
  workloads,
} from './kubernetes-manifests.js';
import { schemaProblems, typeProblems } from './kubernetes-schema.js';

const SECRET_KEYS = ['DASHBOARD_PASSWORD', 'DATABASE_URL', 'REDIS_URL', 'SINGER_TOKEN'];
/** The HTTP server's close waits this long for handlers still answering (closeServer). */
const HTTP_CLOSE_MS = 5_000;

const manifests = await readManifests();
const objects = manifests.map((m) => ({ where: `${m.file} #${m.index}`, object: m.object }));

describe('Kubernetes manifests against the API schemas', () => {
  it('every object validates against its kind’s schema', () => {
    expect(objects.length).toBeGreaterThanOrEqual(9);
    expect(schemaProblems(objects)).toEqual([]);
  });

  it('no object has a field its kind does not have, or a value of the wrong type', () => {
    expect(typeProblems(objects)).toEqual([]);
  });

  it('both checks fail on a broken manifest (so they can fail)', () => {
    const deployment = find(manifests, 'Deployment', 'push-worker');
    const broken = structuredClone(deployment) as typeof deployment & {
      spec: { template: { spec: { containers: Array<Record<string, unknown>> } } };
    };
    const container = broken.spec.template.spec.containers[0]!;
    container.ports = [{ name: 'http', containerPort: 'three thousand' }];
    expect(schemaProblems([{ where: 'broken', object: broken }]).join()).toMatch(
      /containerPort must be integer/,
    );
    container.ports = [{ name: 'http', containerPort: 3000 }];
    container.readinesProbe = container.readinessProbe;
    expect(schemaProblems([{ where: 'typo', object: broken }])).toEqual([]); // the schema allows it
    expect(typeProblems([{ where: 'typo', object: broken }]).join()).toMatch(
      /typo: .*readinesProbe.* does not exist in type 'IContainer'/,
    );
  });
});

describe('Kubernetes deployment of push', () => {
  const configMap = find<{ data: Record<string, string> }>(manifests, 'ConfigMap', 'push-config');
  const port = Number(configMap.data.PORT);

  it.each(ROLES)('the %s Deployment runs `start` with ROLES=%s', (role) => {
    const container = containerOf(find(manifests, 'Deployment', `push-${role}`));
    expect(container.command).toBeUndefined(); // the image's entrypoint: node dist/src/cli.js
    expect(container.args).toEqual(['start']);
    expect(container.env).toEqual([{ name: 'ROLES', value: role }]);
  });

  it.each(ROLES)(
    '%s: liveness on /healthz, readiness on /readyz, on the PORT it listens on',
    (role) => {
      const container = containerOf(find(manifests, 'Deployment', `push-${role}`));
      expect(port).toBe(3000);
      expect(container.ports).toEqual([{ name: 'http', containerPort: port, protocol: 'TCP' }]);
      expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(container.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
      // A slow answer is a failed probe: readiness waits for MySQL and Redis, liveness must not
      // restart a process over one slow answer.
      expect(container.readinessProbe?.timeoutSeconds).toBeGreaterThanOrEqual(2);
      expect(container.livenessProbe?.failureThreshold).toBeGreaterThanOrEqual(3);
    },
  );

  it.each(ROLES)('%s: CPU and memory requests, a memory limit above them, no CPU limit', (role) => {
    const { resources } = containerOf(find(manifests, 'Deployment', `push-${role}`));
    expect(resources?.requests?.cpu).toMatch(/^\d+m$/);
    expect(resources?.requests?.memory).toMatch(/^\d+Mi$/);
    expect(mebibytes(resources?.limits?.memory)).toBeGreaterThan(
      mebibytes(resources?.requests?.memory),
    );
    expect(resources?.limits?.cpu).toBeUndefined();
  });

  it('each role has a PodDisruptionBudget that selects its pods and lets a drain proceed', () => {
    for (const role of ROLES) {
      const deployment = find<{
        spec: {
          replicas: number;
          selector: { matchLabels: Record<string, string> };
          template: { metadata: { labels: Record<string, string> } };
        };
      }>(manifests, 'Deployment', `push-${role}`);
      // The API server refuses a Deployment whose selector does not match its pods.
      expect(deployment.spec.template.metadata.labels).toMatchObject(
        deployment.spec.selector.matchLabels,
      );
      const budget = find<{
        spec: { maxUnavailable?: number; selector: { matchLabels: Record<string, string> } };
      }>(manifests, 'PodDisruptionBudget', `push-${role}`);
      expect(deployment.spec.template.metadata.labels).toMatchObject(
        budget.spec.selector.matchLabels,
      );
      expect(budget.spec.maxUnavailable).toBe(1);
      expect(deployment.spec.replicas).toBeGreaterThan(1); // one may go, one still works
    }
  });

  it('the Service push-http sends the dashboard’s traffic to the http pods’ port', () => {
    const service = find<{
      spec: { selector: Record<string, string>; ports: Array<{ targetPort: string }> };
    }>(manifests, 'Service', 'push-http');
    const pods = find<{ spec: { template: { metadata: { labels: Record<string, string> } } } }>(
      manifests,
      'Deployment',
      'push-http',
    );
    expect(pods.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports.map((p) => p.targetPort)).toEqual(['http']);
  });

  it('every pod runs as the image’s non-root user on a read-only root filesystem, /tmp writable', () => {
    for (const [name, workload] of workloads(manifests)) {
      const pod = podSpecOf(workload);
      const container = containerOf(workload);
      expect(pod.securityContext, name).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      expect(container.securityContext, name).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      const tmp = container.volumeMounts?.find((mount) => mount.mountPath === '/tmp');
      expect(
        pod.volumes?.find((volume) => volume.name === tmp?.name)?.emptyDir,
        name,
      ).toBeDefined();
      expect(pod.automountServiceAccountToken, name).toBe(false);
    }
  });

  it('settings come from the ConfigMap, secrets from the Secret, and push accepts them', () => {
    const secret = find<{
      stringData: Record<string, string>;
    }>(manifests, 'Secret', 'push-secrets');
    expect(Object.keys(secret.stringData).sort()).toEqual(SECRET_KEYS);
    expect(Object.keys(configMap.data).filter((key) => SECRET_KEYS.includes(key))).toEqual([]);
    for (const [name, workload] of workloads(manifests)) {
      const container = containerOf(workload);
      expect(container.envFrom, name).toEqual([
        { configMapRef: { name: 'push-config' } },
        { secretRef: { name: 'push-secrets' } },
      ]);
      const environment = environmentOf(manifests, container);
      const unknown = Object.keys(environment).filter((key) => !SETTING_NAMES.has(key));
      expect(unknown, `${name}: variables push does not read`).toEqual([]);
      const config = loadConfig(environment); // throws ConfigError naming a bad value
      if (name !== 'migrate') expect([...config.roles]).toEqual([name]);
    }
  });

  it('the environment check catches a misspelt or invalid setting (so it can fail)', () => {
    expect(SETTING_NAMES.has('SHUTDOWN_GRACE_MS')).toBe(true);
    expect(SETTING_NAMES.has('SHUTDOWN_GRACE')).toBe(false);
    const container = containerOf(find(manifests, 'Deployment', 'push-worker'));
    const environment = { ...environmentOf(manifests, container), ROLES: 'workers' };
    expect(() => loadConfig(environment)).toThrow(ConfigError);
  });

  it.each(ROLES)('%s: SIGTERM’s drain fits in terminationGracePeriodSeconds', (role) => {
    const deployment = find(manifests, 'Deployment', `push-${role}`);
    const container = containerOf(deployment);
    const graceMs = Number(environmentOf(manifests, container).SHUTDOWN_GRACE_MS);
    const preStop = container.lifecycle?.preStop?.exec?.command;
    const preStopMs = preStop?.[0] === 'sleep' ? Number(preStop[1]) * 1000 : 0;
    if (role === 'http') expect(preStopMs).toBeGreaterThan(0); // endpoints go before the server
    const budgetMs = (podSpecOf(deployment).terminationGracePeriodSeconds ?? 30) * 1000;
    // The kubelet's grace period runs from the preStop hook; after it comes SIGKILL.
    expect(preStopMs + graceMs + HTTP_CLOSE_MS + 5_000).toBeLessThanOrEqual(budgetMs);
  });

  it('the migration is a Job that runs `migrate` once, with the Deployments’ image and settings', () => {
    const job = find<{
      spec: { backoffLimit: number; template: { spec: { restartPolicy: string } } };
    }>(manifests, 'Job', 'push-migrate');
    const container = containerOf(job);
    expect(container.args).toEqual(['migrate']);
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    expect(job.spec.backoffLimit).toBe(0);
    for (const role of ROLES) {
      expect(containerOf(find(manifests, 'Deployment', `push-${role}`)).image).toBe(
        container.image,
      );
    }
  });
});

function mebibytes(quantity: string | number | undefined): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(String(quantity ?? ''));
  if (!match) return Number.NaN;
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}
