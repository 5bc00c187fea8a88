// Kubernetes objects checked against the official API schemas as kubernetes-models
// (tommy351/kubernetes-models-ts) generates them from Kubernetes' OpenAPI document, two ways:
//
// - its validate(): the JSON schema of each object (types, required fields, formats, enums);
// - its TypeScript types, by compiling each object as an object literal of its kind's type:
//   the OpenAPI schemas do not forbid unknown fields, so validate() accepts `readinesProbe`,
//   which the API server drops (or refuses, with strict field validation); TypeScript's excess
//   property check is what finds it.
import ts from 'typescript';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';

interface Model {
  validate(): void;
}
type ModelClass = new (data: never) => Model;

/** Each kind push deploys: its model class, and the module and interface of its type. */
const KINDS: Record<string, { model: ModelClass; module: string; type: string }> = {
  'apps/v1 Deployment': {
    model: Deployment,
    module: 'kubernetes-models/apps/v1/Deployment',
    type: 'IDeployment',
  },
  'batch/v1 Job': { model: Job, module: 'kubernetes-models/batch/v1/Job', type: 'IJob' },
  'policy/v1 PodDisruptionBudget': {
    model: PodDisruptionBudget,
    module: 'kubernetes-models/policy/v1/PodDisruptionBudget',
    type: 'IPodDisruptionBudget',
  },
  'v1 Service': { model: Service, module: 'kubernetes-models/v1/Service', type: 'IService' },
  'v1 ConfigMap': {
    model: ConfigMap,
    module: 'kubernetes-models/v1/ConfigMap',
    type: 'IConfigMap',
  },
  'v1 Secret': { model: Secret, module: 'kubernetes-models/v1/Secret', type: 'ISecret' },
};

export interface KubernetesObject {
  /** Where it comes from, for messages: "worker.yaml #0". */
  where: string;
  object: { apiVersion: string; kind: string };
}

function kindOf(object: KubernetesObject['object']) {
  return KINDS[`${object.apiVersion} ${object.kind}`];
}

/** What the JSON schema of its kind says is wrong with each object (none: []). */
export function schemaProblems(objects: KubernetesObject[]): string[] {
  return objects.flatMap(({ where, object }) => {
    const kind = kindOf(object);
    if (!kind) return [`${where}: ${object.apiVersion} ${object.kind} is not a kind push deploys`];
    try {
      new kind.model(object as never).validate();
      return [];
    } catch (err) {
      return [`${where}: ${(err as Error).message}`];
    }
  });
}

/** Fields the API does not know, and values of the wrong type, found by compiling the objects. */
export function typeProblems(objects: KubernetesObject[]): string[] {
  const sources = new Map<string, { where: string; text: string }>();
  objects.forEach(({ where, object }, i) => {
    const kind = kindOf(object);
    if (!kind) return;
    const text =
      `import type { ${kind.type} } from '${kind.module}';\n` +
      `export const manifest: ${kind.type} = ${JSON.stringify(object, null, 2)};\n`;
    // Under the package root, so that the imports resolve to its node_modules.
    sources.set(join(packageRoot, 'test', 'deploy', `__manifest_${i}.ts`), { where, text });
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => sources.has(name) || fileExists.call(host, name);
  host.readFile = (name) => sources.get(name)?.text ?? readFile.call(host, name);
  host.getSourceFile = (name, language, ...rest) => {
    const source = sources.get(name);
    return source
      ? ts.createSourceFile(name, source.text, language)
      : getSourceFile.call(host, name, language, ...rest);
  };
  const program = ts.createProgram([...sources.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '; ');
    const source = diagnostic.file ? sources.get(diagnostic.file.fileName) : undefined;
    if (!source || !diagnostic.file || diagnostic.start === undefined) return message;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const text = diagnostic.file.text.split('\n')[line]?.trim();
    return `${source.where}: ${message} (at ${text})`;
  });
}
