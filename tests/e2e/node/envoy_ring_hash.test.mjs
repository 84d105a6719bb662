// deploy/envoy/ring-hash.yaml and ring-hash-statefulset.yaml, the ring proxy of
// docs/SCALING.md: valid against Envoy's own bootstrap schema (offline and strict, like
// envoy_config.test.mjs), no deprecated field, calls hashed on x-hourglass-key over HTTP/2 to the
// headless Service of deploy/k8s, and the two files differ only in how ring members are named.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { createFileRegistry, fromBinary, fromJson, toJson } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const deploy = path.join(root, 'deploy/envoy');
const descriptors = path.resolve(root, '../shared/data/envoy-bootstrap-descriptors.binpb');

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(descriptors)));
const bootstrapSchema = registry.getMessage('envoy.config.bootstrap.v3.Bootstrap');

const readYaml = (file) => YAML.parse(readFileSync(file, 'utf8'));
// fromJson is strict: unknown fields and wrong types throw. toJson gives the canonical form.
const parse = (json) => toJson(bootstrapSchema, fromJson(bootstrapSchema, json, { registry }),
                               { registry });
const load = (name) => parse(readYaml(path.join(deploy, name)));

// Paths of every field set in `json` (as written: proto names) that Envoy marks deprecated,
// following google.protobuf.Any through its @type.
function deprecatedFields(schema, json, at = '') {
  if (schema.typeName === 'google.protobuf.Any') {
    const inner = registry.getMessage(json['@type'].split('/').pop());
    assert.ok(inner, `${at}: unknown @type ${json['@type']}`);
    return deprecatedFields(inner, json, at);
  }
  if (schema.typeName.startsWith('google.protobuf.')) return [];  // Duration, wrappers, Struct
  const found = [];
  for (const [key, value] of Object.entries(json)) {
    if (key === '@type') continue;
    const field = schema.fields.find((f) => f.name === key || f.jsonName === key);
    assert.ok(field, `${at}.${key}: no such field in ${schema.typeName}`);
    const where = `${at}.${key}`;
    if (field.deprecated) found.push(where);
    const kind = field.fieldKind === 'list' ? field.listKind
      : field.fieldKind === 'map' ? field.mapKind : field.fieldKind;
    if (kind !== 'message') continue;
    const items = field.fieldKind === 'list' ? value.map((v, i) => [`${where}[${i}]`, v])
      : field.fieldKind === 'map' ? Object.entries(value).map(([k, v]) => [`${where}.${k}`, v])
        : [[where, value]];
    for (const [itemAt, item] of items) {
      found.push(...deprecatedFields(field.message, item, itemAt));
    }
  }
  return found;
}

// The headless Service deploy/k8s defines, and the namespace its overlays install into.
function headlessAddress() {
  const services = YAML.parseAllDocuments(
    readFileSync(path.join(root, 'deploy/k8s/base/services.yaml'), 'utf8')).map((d) => d.toJS());
  const headless = services.find((s) => s.spec.clusterIP === 'None');
  const grpcPort = headless.spec.ports.find((p) => p.name === 'grpc').port;
  const { namespace } = readYaml(path.join(root, 'deploy/k8s/overlays/example/kustomization.yaml'));
  return { service: headless.metadata.name, namespace, grpcPort };
}

function routes(bootstrap) {
  const manager = bootstrap.staticResources.listeners[0].filterChains[0].filters[0].typedConfig;
  return manager.routeConfig.virtualHosts[0].routes;
}

for (const name of ['ring-hash.yaml', 'ring-hash-statefulset.yaml']) {
  test(`${name} parses strictly as an Envoy v3 Bootstrap and uses no deprecated field`, () => {
    const bootstrap = load(name);
    assert.equal(bootstrap.staticResources.listeners.length, 1);
    assert.deepEqual(deprecatedFields(bootstrapSchema, readYaml(path.join(deploy, name))), []);
  });

  test(`${name}: keyed calls are hashed on x-hourglass-key, calls without it refused`, () => {
    const bootstrap = load(name);
    const listener = bootstrap.staticResources.listeners[0];
    assert.equal(listener.address.socketAddress.portValue, 50051);
    const all = routes(bootstrap);
    const last = all.at(-1);
    assert.equal(last.match.prefix, '/');
    assert.deepEqual(last.route.hashPolicy, [{ header: { headerName: 'x-hourglass-key' } }]);
    assert.equal(last.route.cluster, 'hourglass');
    // No retries (Increment, Consume are not idempotent); no route timeout cutting streams.
    assert.equal(last.route.retryPolicy, undefined);
    assert.equal(last.route.timeout, '0s');
    // Before it: hourglass.v1 calls that lack the header get a direct 400, not a random pod.
    const refuse = all.findIndex((r) => r.directResponse);
    assert.ok(refuse >= 0 && refuse < all.length - 1);
    assert.equal(all[refuse].match.prefix, '/hourglass.v1.');
    assert.deepEqual(all[refuse].match.headers,
                     [{ name: 'x-hourglass-key', presentMatch: false }]);
    assert.equal(all[refuse].directResponse.status, 400);
    // AdminService (per pod) is matched before the refusal.
    const admin = all.findIndex((r) => r.match.prefix === '/hourglass.v1.AdminService/');
    assert.ok(admin >= 0 && admin < refuse);
  });

  test(`${name}: a ring over the headless Service, HTTP/2, gRPC health checked`, () => {
    const bootstrap = load(name);
    const [cluster] = bootstrap.staticResources.clusters;
    assert.equal(cluster.name, 'hourglass');
    assert.equal(cluster.type, 'STRICT_DNS');
    assert.equal(cluster.lbPolicy, 'RING_HASH');
    assert.ok(Number(cluster.ringHashLbConfig.minimumRingSize) >= 1024);
    const options = cluster.typedExtensionProtocolOptions[
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    assert.ok(options.explicitHttpConfig.http2ProtocolOptions !== undefined, 'gRPC needs HTTP/2');
    assert.ok(cluster.healthChecks[0].grpcHealthCheck !== undefined);
    const { service, namespace, grpcPort } = headlessAddress();
    const suffix = `${service}.${namespace}.svc.cluster.local`;
    const endpoints = cluster.loadAssignment.endpoints.flatMap((e) => e.lbEndpoints);
    assert.ok(endpoints.length >= 1);
    for (const { endpoint } of endpoints) {
      const address = endpoint.address.socketAddress;
      assert.equal(address.portValue, grpcPort);
      assert.ok(address.address === suffix || address.address.endsWith(`.${suffix}`),
                address.address);
    }
  });
}

test('ring-hash-statefulset.yaml hashes on the StatefulSet pod names', () => {
  const [cluster] = load('ring-hash-statefulset.yaml').staticResources.clusters;
  assert.equal(cluster.commonLbConfig.consistentHashingLbConfig.useHostnameForHashing, true);
  const { service, namespace } = headlessAddress();
  const endpoints = cluster.loadAssignment.endpoints.flatMap((e) => e.lbEndpoints);
  assert.ok(endpoints.length >= 3);
  endpoints.forEach(({ endpoint }, ordinal) => {
    // Pod <statefulset>-<ordinal> under the headless Service the StatefulSet names.
    assert.equal(endpoint.hostname, `hourglass-${ordinal}`);
    assert.equal(endpoint.address.socketAddress.address,
                 `hourglass-${ordinal}.${service}.${namespace}.svc.cluster.local`);
  });
  const component = readYaml(
    path.join(root, 'deploy/k8s/components/statefulset/kustomization.yaml'));
  const ops = YAML.parse(component.patches[0].patch);
  assert.deepEqual(ops.find((op) => op.path === '/spec/serviceName').value, service);
});

test('ring-hash.yaml hashes on pod addresses (one DNS name for every pod)', () => {
  const [cluster] = load('ring-hash.yaml').staticResources.clusters;
  // With a single STRICT_DNS name every host has that name as hostname: hashing on it would
  // put every pod at the same place on the ring.
  assert.equal(cluster.commonLbConfig?.consistentHashingLbConfig?.useHostnameForHashing, undefined);
  assert.equal(cluster.loadAssignment.endpoints.flatMap((e) => e.lbEndpoints).length, 1);
});

test('the two ring configs differ only in how ring members are named', () => {
  const strip = (bootstrap) => {
    const [cluster] = bootstrap.staticResources.clusters;
    delete cluster.loadAssignment;
    delete cluster.commonLbConfig;
    return bootstrap;
  };
  assert.deepEqual(strip(load('ring-hash-statefulset.yaml')), strip(load('ring-hash.yaml')));
});
