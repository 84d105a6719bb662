// deploy/k8s: every kustomization renders with `kubectl kustomize` (kustomize v5, shipped in
// kubectl >= 1.27), every rendered object validates offline against the Kubernetes and
// prometheus-operator schemas (npm kubernetes-models; it checks types, required fields and enums
// but not unknown fields, so the invariants below read every field they care about by its exact
// name), and the deployment invariants hold:
//   - probes are native gRPC on the gRPC port, naming services hourglass serves;
//   - HOURGLASS_MAXMEMORY is 80% of a memory limit that is set;
//   - terminationGracePeriodSeconds >= preStop sleep + --shutdown_grace + 5 s;
//   - hardened pod and container securityContext, the image's numeric user (Dockerfile);
//   - Services, PDB, ServiceMonitor, NetworkPolicy and HPA point at what is rendered;
//   - the StatefulSet variant snapshots to a per-pod volume, with time to write it.
// Skipped, with the reason, when kubectl (with kustomize v5) is not installed.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const k8s = path.join(root, 'deploy/k8s');

// kubectl on PATH, else where distributions put it.
function findKubectl() {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/bin', '/usr/bin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = path.join(dir, 'kubectl');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

function kustomizeSkipReason(kubectl) {
  if (!kubectl) return 'kubectl is not installed (needs kubectl >= 1.27, kustomize v5)';
  try {
    const version = JSON.parse(execFileSync(kubectl, ['version', '--client', '-o', 'json'],
                                            { encoding: 'utf8' }));
    const major = Number(/^v(\d+)/.exec(version.kustomizeVersion ?? '')?.[1] ?? 0);
    if (major < 5) return `kubectl ships kustomize ${version.kustomizeVersion}; needs v5`;
  } catch (error) {
    return `kubectl version failed: ${error.message}`;
  }
  return false;
}

const kubectl = findKubectl();
const skip = kustomizeSkipReason(kubectl);

// Every directory holding a Kustomization (components render through the overlays using them).
function kustomizations(dir = k8s) {
  const found = [];
  const file = path.join(dir, 'kustomization.yaml');
  try {
    if (YAML.parse(readFileSync(file, 'utf8')).kind === 'Kustomization') found.push(dir);
  } catch {
    // no kustomization here
  }
  for (const entry of readdirSync(dir)) {
    const sub = path.join(dir, entry);
    if (statSync(sub).isDirectory()) found.push(...kustomizations(sub));
  }
  return found;
}

const rendered = new Map();
function render(dir) {
  if (!rendered.has(dir)) {
    const out = execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8' });
    rendered.set(dir, YAML.parseAllDocuments(out).map((doc) => doc.toJS()));
  }
  return rendered.get(dir);
}

// The kubernetes-models class of an object: core `v1` kinds, API groups, prometheus-operator.
async function modelOf({ apiVersion, kind }) {
  const module = apiVersion.startsWith('monitoring.coreos.com/')
    ? `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`
    : `kubernetes-models/${apiVersion}/${kind}`;
  try {
    return (await import(module))[kind];
  } catch {
    assert.fail(`no schema for ${apiVersion} ${kind} (${module})`);
  }
}

// "10s", "1m30s", "500ms" (absl::Duration / Go spelling) in seconds.
function seconds(duration) {
  const units = { h: 3600, m: 60, s: 1, ms: 1e-3 };
  let total = 0;
  const rest = duration.replace(/(\d+(?:\.\d+)?)(ms|h|m|s)/g, (_, n, unit) => {
    total += Number(n) * units[unit];
    return '';
  });
  assert.equal(rest, '', `cannot parse duration ${duration}`);
  return total;
}

// Kubernetes memory quantity in bytes.
function bytes(quantity) {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(quantity));
  assert.ok(match, `cannot parse quantity ${quantity}`);
  const scale = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9,
                  T: 1e12 };
  return Number(match[1]) * (scale[match[2]] ?? 1);
}

// --shutdown_grace's default, read from the flag definition.
function defaultShutdownGrace() {
  const source = readFileSync(path.join(root, 'server/config.cc'), 'utf8');
  const match = /ABSL_FLAG\(absl::Duration, shutdown_grace, absl::Seconds\((\d+)\)/.exec(source);
  assert.ok(match, 'server/config.cc: shutdown_grace flag not found');
  return Number(match[1]);
}

// The services hourglass serves, for probe service names ("" = the whole server).
function servedServices() {
  const names = [''];
  const protoDir = path.join(root, 'proto/hourglass/v1');
  for (const file of readdirSync(protoDir).filter((f) => f.endsWith('.proto'))) {
    const text = readFileSync(path.join(protoDir, file), 'utf8');
    const pkg = /^package ([\w.]+);/m.exec(text)[1];
    for (const [, service] of text.matchAll(/^service (\w+)/gm)) names.push(`${pkg}.${service}`);
  }
  names.push('envoy.service.ratelimit.v3.RateLimitService');
  return names;
}

// The Dockerfile's USER uid:gid.
function imageUser() {
  const user = /^USER\s+(\d+):(\d+)\s*$/m.exec(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
  assert.ok(user, 'Dockerfile: USER uid:gid not found');
  return { uid: Number(user[1]), gid: Number(user[2]) };
}

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([key, value]) => labels?.[key] === value);

function workloadOf(objects) {
  const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  assert.equal(workloads.length, 1, 'one hourglass workload per kustomization');
  return workloads[0];
}

function envOf(container) {
  return Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
}

function portOf(container, name) {
  const port = container.ports.find((p) => p.name === name);
  assert.ok(port, `container port ${name}`);
  return port.containerPort;
}

// A Service targetPort (number or container port name) resolved to a container port number.
function targetPortOf(container, servicePort) {
  const target = servicePort.targetPort ?? servicePort.port;
  return typeof target === 'number' ? target : portOf(container, target);
}

const dirs = kustomizations();

test('deploy/k8s has the base, its entry point and the example overlays', () => {
  const relative = dirs.map((d) => path.relative(k8s, d) || '.').sort();
  for (const expected of ['.', 'base', 'overlays/example', 'overlays/sessions']) {
    assert.ok(relative.includes(expected), `${expected} missing from ${relative}`);
  }
});

for (const dir of dirs) {
  const name = path.relative(root, dir);

  test(`${name}: renders and every object validates`, { skip }, async () => {
    const objects = render(dir);
    assert.ok(objects.length > 0);
    for (const object of objects) {
      const Model = await modelOf(object);
      // validate() throws with the failing path.
      assert.doesNotThrow(() => new Model(object).validate(),
                          `${object.kind}/${object.metadata?.name}`);
    }
    const namespaces = new Set(objects.filter((o) => o.kind !== 'Namespace')
      .map((o) => o.metadata.namespace));
    assert.equal(namespaces.size, 1, `one namespace for everything: ${[...namespaces]}`);
  });

  test(`${name}: gRPC probes, memory cap tied to the limit, shutdown fits the grace period`,
       { skip }, () => {
    const workload = workloadOf(render(dir));
    const pod = workload.spec.template.spec;
    assert.equal(pod.containers.length, 1);
    const [container] = pod.containers;
    const grpcPort = portOf(container, 'grpc');
    const env = envOf(container);

    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const spec = container[probe];
      if (probe === 'startupProbe' && !spec) continue;
      assert.ok(spec?.grpc, `${probe} must be a native gRPC probe`);
      for (const other of ['httpGet', 'tcpSocket', 'exec']) assert.equal(spec[other], undefined);
      assert.equal(spec.grpc.port, grpcPort, `${probe} port`);
      assert.ok(servedServices().includes(spec.grpc.service ?? ''),
                `${probe}: hourglass serves no health service "${spec.grpc.service}"`);
    }

    assert.equal(env.HOURGLASS_MAXMEMORY, '80%');
    const limit = container.resources?.limits?.memory;
    assert.ok(limit, '80% of what? a memory limit must be set');
    assert.equal(bytes(container.resources.requests.memory), bytes(limit),
                 'memory request = limit');
    assert.ok(container.resources.requests.cpu, 'a CPU request');

    assert.equal(env.HOURGLASS_LISTEN, `0.0.0.0:${grpcPort}`);
    assert.equal(env.HOURGLASS_METRICS_LISTEN, `0.0.0.0:${portOf(container, 'metrics')}`);

    const preStop = container.lifecycle?.preStop;
    const sleep = preStop?.sleep?.seconds
      ?? Number(/^(?:\/bin\/)?sleep$/.test(preStop?.exec?.command?.[0] ?? '')
        ? preStop.exec.command[1] : NaN);
    assert.ok(sleep > 0, 'preStop sleeps so proxies stop routing to the pod first');
    const grace = env.HOURGLASS_SHUTDOWN_GRACE !== undefined
      ? seconds(env.HOURGLASS_SHUTDOWN_GRACE) : defaultShutdownGrace();
    const margin = 5;
    assert.ok(pod.terminationGracePeriodSeconds >= sleep + grace + margin,
              `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} < ` +
              `preStop ${sleep} + shutdown_grace ${grace} + ${margin}`);
  });

  test(`${name}: hardened securityContext, the image's non-root user`, { skip }, () => {
    const pod = workloadOf(render(dir)).spec.template.spec;
    const { uid, gid } = imageUser();
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, uid);
    assert.equal(pod.securityContext.runAsGroup, gid);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(pod.automountServiceAccountToken, false);
    assert.ok(!pod.hostNetwork && !pod.hostPID && !pod.hostIPC);
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const context = container.securityContext;
      assert.equal(context.allowPrivilegeEscalation, false);
      assert.equal(context.readOnlyRootFilesystem, true);
      assert.notEqual(context.privileged, true);
      assert.deepEqual(context.capabilities.drop, ['ALL']);
      assert.equal(context.capabilities.add, undefined);
      assert.ok(context.runAsUser === undefined || context.runAsUser !== 0);
    }
  });

  test(`${name}: Services, PDB, ServiceMonitor, NetworkPolicy and HPA match the workload`,
       { skip }, () => {
    const objects = render(dir);
    const workload = workloadOf(objects);
    const podLabels = workload.spec.template.metadata.labels;
    const [container] = workload.spec.template.spec.containers;
    assert.ok(matches(workload.spec.selector.matchLabels, podLabels));
    const kinds = (kind) => objects.filter((o) => o.kind === kind);

    const services = kinds('Service');
    for (const service of services) {
      assert.ok(matches(service.spec.selector, podLabels), `${service.metadata.name} selector`);
      for (const port of service.spec.ports) targetPortOf(container, port);
    }
    const headless = services.filter((s) => s.spec.clusterIP === 'None');
    const clusterIp = services.filter((s) => s.spec.clusterIP !== 'None');
    assert.equal(headless.length, 1, 'one headless Service');
    assert.equal(clusterIp.length, 1, 'one ClusterIP Service');
    assert.equal(clusterIp[0].spec.type ?? 'ClusterIP', 'ClusterIP');
    if (workload.kind === 'StatefulSet') {
      assert.equal(workload.spec.serviceName, headless[0].metadata.name);
    }

    const [pdb] = kinds('PodDisruptionBudget');
    assert.ok(pdb && matches(pdb.spec.selector.matchLabels, podLabels), 'a PDB over the pods');

    for (const monitor of kinds('ServiceMonitor')) {
      const scraped = services.filter((s) => matches(monitor.spec.selector.matchLabels,
                                                     s.metadata.labels));
      // Two Services would scrape every pod twice; the job is named after the Service, and
      // deploy/prometheus/alerts.yaml expects job "hourglass".
      assert.deepEqual(scraped.map((s) => s.metadata.name), ['hourglass']);
      for (const endpoint of monitor.spec.endpoints) {
        const port = scraped[0].spec.ports.find((p) => p.name === endpoint.port);
        assert.ok(port, `ServiceMonitor port ${endpoint.port} is not a port of the Service`);
        assert.equal(targetPortOf(container, port), portOf(container, 'metrics'));
        assert.equal(endpoint.path ?? '/metrics', '/metrics');
      }
    }

    const [policy] = kinds('NetworkPolicy');
    assert.ok(policy, 'a NetworkPolicy');
    assert.ok(matches(policy.spec.podSelector.matchLabels, podLabels));
    assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
    const admitted = new Set();
    for (const rule of policy.spec.ingress) {
      assert.ok(rule.from?.length > 0, 'every ingress rule names who may connect');
      for (const peer of rule.from) {
        assert.equal(peer.ipBlock, undefined);
        assert.ok(Object.keys(peer.podSelector?.matchLabels ?? {}).length > 0,
                  'peers are labelled pods, not whole namespaces');
      }
      for (const port of rule.ports) {
        admitted.add(typeof port.port === 'number' ? port.port : portOf(container, port.port));
      }
    }
    assert.deepEqual([...admitted].sort(), container.ports.map((p) => p.containerPort).sort());

    for (const hpa of kinds('HorizontalPodAutoscaler')) {
      const target = hpa.spec.scaleTargetRef;
      assert.deepEqual([target.kind, target.name], [workload.kind, workload.metadata.name]);
      assert.equal(workload.spec.replicas, undefined,
                   'with an HPA, replicas in the manifest reset the count on every apply');
      assert.ok(hpa.spec.minReplicas >= 2);
      assert.equal(hpa.spec.behavior?.scaleDown?.selectPolicy, 'Disabled',
                   'scaling down moves keys back onto stale copies: by hand only');
      for (const metric of hpa.spec.metrics) {
        assert.notEqual(metric.resource?.name, 'memory', 'the store fills its cap by design');
      }
    }
  });
}

test('the StatefulSet variant runs the same pod as the Deployment, plus its snapshot volume',
     { skip }, () => {
  const deployment = workloadOf(render(path.join(k8s, 'base')));
  const statefulSet = workloadOf(render(path.join(k8s, 'overlays/sessions')));
  assert.equal(deployment.kind, 'Deployment');
  assert.equal(statefulSet.kind, 'StatefulSet');
  // What the snapshot adds (checked by the next test), taken out before comparing.
  const template = (w) => {
    const copy = structuredClone(w.spec.template);
    const [container] = copy.spec.containers;
    delete container.image;  // overlays set the registry
    delete container.volumeMounts;
    container.env = container.env.filter((e) => e.name !== 'HOURGLASS_SNAPSHOT_PATH');
    delete copy.spec.terminationGracePeriodSeconds;
    delete copy.spec.securityContext.fsGroup;
    delete copy.spec.securityContext.fsGroupChangePolicy;
    return copy;
  };
  assert.deepEqual(template(statefulSet), template(deployment));
});

test('the StatefulSet variant snapshots to a volume of its own, within its grace period',
     { skip }, () => {
  const statefulSet = workloadOf(render(path.join(k8s, 'overlays/sessions')));
  const pod = statefulSet.spec.template.spec;
  const [container] = pod.containers;
  const snapshotPath = envOf(container).HOURGLASS_SNAPSHOT_PATH;
  assert.ok(snapshotPath?.startsWith('/'), 'HOURGLASS_SNAPSHOT_PATH is an absolute path');
  // The root filesystem is read-only: the snapshot's directory must be a mounted volume.
  const mount = (container.volumeMounts ?? []).find(
    (m) => path.posix.dirname(snapshotPath) === m.mountPath);
  assert.ok(mount, `no volume mounted at ${path.posix.dirname(snapshotPath)}`);
  assert.notEqual(mount.readOnly, true);
  const claims = statefulSet.spec.volumeClaimTemplates ?? [];
  const claim = claims.find((c) => c.metadata.name === mount.name);
  assert.ok(claim, `volume ${mount.name} is a volumeClaimTemplate (one per pod)`);
  assert.deepEqual(claim.spec.accessModes, ['ReadWriteOnce']);
  // Room for the old snapshot and the new one being written: 2 x the memory cap.
  assert.ok(bytes(claim.spec.resources.requests.storage) >=
            2 * bytes(container.resources.limits.memory), 'claim >= 2 x the memory limit');
  assert.equal(pod.securityContext.fsGroup, imageUser().gid, 'the volume is writable by the user');
  // The snapshot is written after the drain: the grace period leaves it time.
  const grace = seconds(envOf(container).HOURGLASS_SHUTDOWN_GRACE);
  const sleep = Number(container.lifecycle.preStop.exec.command[1]);
  assert.ok(pod.terminationGracePeriodSeconds >= sleep + grace + 30,
            'at least 30 s left for writing the snapshot');
});
