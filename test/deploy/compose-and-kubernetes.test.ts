// docker-compose.yml and deploy/kubernetes/ describe the same deployment: the same services
// (migrate, poller, worker, http), each with the same image, command, environment variable
// names, port, grace period and hardening. The compose side is read as `docker-compose config`
// resolves it (anchors merged, ${VAR:-default} filled in), so what is compared is what runs.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runTool } from './deploy-files.js';
import {
  containerOf,
  environmentOf,
  podSpecOf,
  readManifests,
  workloads,
} from './kubernetes-manifests.js';

interface ComposeService {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | null>;
  ports?: Array<{ target: number; published?: number }>;
  stop_grace_period?: string;
  read_only?: boolean;
  tmpfs?: string[];
  cap_drop?: string[];
  security_opt?: string[];
}

async function composeServices(): Promise<Record<string, ComposeService>> {
  const result = await runTool('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
    installHint: '`apt-get install docker-compose` (.ci/run does)',
  });
  if (!result.ok) throw new Error(`docker-compose config failed: ${result.stderr}`);
  return (parse(result.stdout) as { services: Record<string, ComposeService> }).services;
}

/** Settings whose values must agree as well: they shape the deployment, not the site. */
const SAME_VALUES = ['PORT', 'SHUTDOWN_GRACE_MS', 'QUEUE_PREFIX', 'ROLES'];

const [services, manifests] = await Promise.all([composeServices(), readManifests()]);
const kubernetes = workloads(manifests);
const pushServices = Object.keys(services).filter((name) =>
  services[name]?.image?.startsWith('push'),
);

describe('docker-compose.yml and deploy/kubernetes/', () => {
  it('run the same push services: migrate and one per role', () => {
    const composePush = pushServices.filter((name) => name !== 'singer-stub').sort();
    expect(composePush).toEqual([...kubernetes.keys()].sort());
  });

  it.each([...kubernetes.keys()])('%s: the same image and command', (name) => {
    const service = services[name];
    const container = containerOf(kubernetes.get(name)!);
    expect(service?.image).toBe(container.image);
    // Both keep the image's entrypoint (node dist/src/cli.js) and pass the same subcommand.
    expect(service?.entrypoint).toBeUndefined();
    expect(container.command).toBeUndefined();
    expect(service?.command).toEqual(container.args);
  });

  it.each([...kubernetes.keys()])('%s: the same environment variables', (name) => {
    const composeEnv = services[name]?.environment ?? {};
    const kubernetesEnv = environmentOf(manifests, containerOf(kubernetes.get(name)!));
    expect(Object.keys(composeEnv).sort()).toEqual(Object.keys(kubernetesEnv).sort());
    for (const key of SAME_VALUES.filter((k) => k in kubernetesEnv)) {
      expect(`${key}=${composeEnv[key]}`).toBe(`${key}=${kubernetesEnv[key]}`);
    }
  });

  it('the http service publishes the port the http pods listen on and the Service targets', () => {
    const container = containerOf(kubernetes.get('http')!);
    const containerPorts = (container.ports ?? []).map((p) => p.containerPort);
    expect(services.http?.ports?.map((p) => p.target)).toEqual(containerPorts);
    // The other roles publish nothing, as only http has a Service.
    for (const role of ['poller', 'worker', 'migrate'])
      expect(services[role]?.ports).toBeUndefined();
  });

  it.each(['poller', 'worker', 'http'])('%s: the same grace period before SIGKILL', (role) => {
    const seconds = /^(\d+)s$/.exec(services[role]?.stop_grace_period ?? '')?.[1];
    expect(Number(seconds)).toBe(podSpecOf(kubernetes.get(role)!).terminationGracePeriodSeconds);
  });

  it.each([...kubernetes.keys()])(
    '%s: the same read-only root filesystem, writable /tmp, no capabilities, no privilege gain',
    (name) => {
      const service = services[name];
      const container = containerOf(kubernetes.get(name)!);
      expect(service?.read_only).toBe(container.securityContext?.readOnlyRootFilesystem);
      expect(service?.tmpfs).toEqual(container.volumeMounts?.map((m) => m.mountPath));
      expect(service?.cap_drop).toEqual(container.securityContext?.capabilities?.drop);
      expect(service?.security_opt).toContain('no-new-privileges:true');
      expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
    },
  );
});
