// deploy/kubernetes/ read as the API objects it holds, with what the deployment tests ask of
// them: each role's Deployment, the migration Job, and the environment a container ends up with
// (its env entries plus the keys of the ConfigMaps and Secrets it takes envFrom).
import { readdir } from 'node:fs/promises';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { deployPath, readYamlDocuments } from './deploy-files.js';

export const KUBERNETES_DIR = deployPath('kubernetes');
export const ROLES = ['poller', 'worker', 'http'] as const;

export interface Manifest {
  file: string;
  /** Position in its file, from 0. */
  index: number;
  object: {
    apiVersion: string;
    kind: string;
    metadata: { name: string; labels?: Record<string, string> };
    [field: string]: unknown;
  };
}

export async function readManifests(): Promise<Manifest[]> {
  const files = (await readdir(KUBERNETES_DIR)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const manifests: Manifest[] = [];
  for (const file of files) {
    const documents = await readYamlDocuments(deployPath('kubernetes', file));
    documents.forEach((object, index) =>
      manifests.push({ file, index, object: object as Manifest['object'] }),
    );
  }
  return manifests;
}

/** The object of that kind and name, seen as `T` (the fields a test reads). */
export function find<T extends object = object>(
  manifests: Manifest[],
  kind: string,
  name: string,
): T & Manifest['object'] {
  const found = manifests.find((m) => m.object.kind === kind && m.object.metadata.name === name);
  if (!found) throw new Error(`deploy/kubernetes/ has no ${kind} ${name}`);
  return found.object as T & Manifest['object'];
}

/** The pod spec of a Deployment or a Job. */
export function podSpecOf(object: Manifest['object']): IPodSpec {
  const spec = object.spec as { template?: { spec?: IPodSpec } } | undefined;
  if (!spec?.template?.spec) throw new Error(`${object.kind} ${object.metadata.name} has no pod`);
  return spec.template.spec;
}

/** Its one container (push runs one per pod). */
export function containerOf(object: Manifest['object']): IContainer {
  const containers = podSpecOf(object).containers;
  if (containers.length !== 1 || !containers[0]) {
    throw new Error(`${object.kind} ${object.metadata.name} should have exactly one container`);
  }
  return containers[0];
}

/** Each role's Deployment and the migration Job, by the name docker-compose gives the service. */
export function workloads(manifests: Manifest[]): Map<string, Manifest['object']> {
  return new Map<string, Manifest['object']>([
    ['migrate', find(manifests, 'Job', 'push-migrate')],
    ...ROLES.map((role) => [role, find(manifests, 'Deployment', `push-${role}`)] as const),
  ]);
}

/**
 * The environment the container gets: ConfigMap and Secret keys (envFrom) overlaid by its env
 * entries, as Kubernetes does; Secret values from `stringData` or base64 `data`.
 */
export function environmentOf(
  manifests: Manifest[],
  container: IContainer,
): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef?.name) {
      const map = find<{ data?: object }>(manifests, 'ConfigMap', source.configMapRef.name);
      Object.assign(environment, map.data ?? {});
    }
    if (source.secretRef?.name) {
      const secret = find<{ data?: Record<string, string>; stringData?: Record<string, string> }>(
        manifests,
        'Secret',
        source.secretRef.name,
      );
      for (const [key, value] of Object.entries(secret.data ?? {})) {
        environment[key] = Buffer.from(value, 'base64').toString('utf8');
      }
      Object.assign(environment, secret.stringData ?? {});
    }
  }
  for (const variable of container.env ?? []) environment[variable.name] = variable.value ?? '';
  return environment;
}
