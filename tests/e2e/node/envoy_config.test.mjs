// deploy/envoy: the example Envoy config is valid against Envoy's own bootstrap schema
// (checked offline and strictly: an unknown field fails), points its rate-limit filter at
// hourglass over HTTP/2, and the limits file beside it is one hourglass accepts.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { createFileRegistry, fromBinary, fromJson, toJson } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const deploy = path.join(root, 'deploy/envoy');
const descriptors = path.resolve(root, '../shared/data/envoy-bootstrap-descriptors.binpb');

function loadBootstrap() {
  const registry = createFileRegistry(
    fromBinary(FileDescriptorSetSchema, readFileSync(descriptors)));
  const schema = registry.getMessage('envoy.config.bootstrap.v3.Bootstrap');
  const json = YAML.parse(readFileSync(path.join(deploy, 'envoy.yaml'), 'utf8'));
  // fromJson is strict: unknown fields and wrong types throw.
  const message = fromJson(schema, json, { registry });
  return toJson(schema, message, { registry });
}

test('envoy.yaml parses strictly as an Envoy v3 Bootstrap', () => {
  const bootstrap = loadBootstrap();
  assert.equal(bootstrap.staticResources.listeners.length, 1);
});

test('the rate-limit filter points at the hourglass cluster over HTTP/2', () => {
  const bootstrap = loadBootstrap();
  const manager = bootstrap.staticResources.listeners[0].filterChains[0].filters[0].typedConfig;
  const filter = manager.httpFilters.find((f) => f.name === 'envoy.filters.http.ratelimit');
  assert.ok(filter, 'no envoy.filters.http.ratelimit filter');
  const config = filter.typedConfig;
  assert.equal(config.rateLimitService.transportApiVersion, 'V3');
  const clusterName = config.rateLimitService.grpcService.envoyGrpc.clusterName;
  const cluster = bootstrap.staticResources.clusters.find((c) => c.name === clusterName);
  assert.ok(cluster, `no cluster ${clusterName}`);
  const options = cluster.typedExtensionProtocolOptions['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.ok(options.explicitHttpConfig.http2ProtocolOptions !== undefined, 'gRPC needs HTTP/2');
  const port = cluster.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue;
  assert.equal(port, 50051);
  // The filter's domain is the domain of the limits file.
  const limits = YAML.parse(readFileSync(path.join(deploy, 'ratelimit.yaml'), 'utf8'));
  assert.equal(config.domain, limits.domain);
});

test('hourglass starts with deploy/envoy/ratelimit.yaml', { skip: !process.env.HOURGLASS_BIN },
  async () => {
    const child = spawn(process.env.HOURGLASS_BIN, [
      '--listen=127.0.0.1:0', '--metrics_listen=127.0.0.1:0',
      `--ratelimit_config=${path.join(deploy, 'ratelimit.yaml')}`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = readline.createInterface({ input: child.stdout });
    const started = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), 20000);
      lines.on('line', (line) => {
        if (/serving gRPC on port \d+/.test(line)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.on('exit', () => resolve(false));
    });
    const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.ok(started, 'hourglass did not start with the example limits');
    assert.equal(await exited, 0);
  });
