// docs/examples/scaled_client.mjs, the Node client side of docs/SCALING.md: its placement keys
// are the ones hourglass puts at the end of session ids (so a call with only an id reaches the
// owner's pod), and the example runs against the built binary. HOURGLASS_BIN names the binary.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { HEADER, placementKey, placementOfId } from '../../../docs/examples/scaled_client.mjs';
import { startServer } from './hourglass_server.mjs';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const example = path.join(root, 'docs/examples/scaled_client.mjs');
const skip = process.env.HOURGLASS_BIN ? false : 'HOURGLASS_BIN is not set';

let server;

before(async () => {
  if (!skip) server = await startServer();
});

after(async () => {
  if (!server) return;
  const exited = new Promise((resolve) => server.child.on('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
});

test('placement keys are 4 base64url characters, the same as Python computes', () => {
  // Vectors from docs/examples/scaled_client.py (base64.urlsafe_b64encode(sha256(o)[:3])).
  assert.equal(placementKey('alice@example.com'), '_42Y');
  for (const owner of ['', 'u42', 'ünïcödé', 'x'.repeat(1000)]) {
    assert.match(placementKey(owner), /^[A-Za-z0-9_-]{4}$/);
  }
  assert.equal(HEADER, 'x-hourglass-key');
});

test('a session id ends with its user\'s placement key', { skip }, async () => {
  const protoRoot = path.join(root, 'proto');
  const definition = protoLoader.loadSync(path.join(protoRoot, 'hourglass/v1/session.proto'),
                                          { keepCase: true, defaults: true,
                                            includeDirs: [protoRoot] });
  const { SessionService } = grpc.loadPackageDefinition(definition).hourglass.v1;
  const sessions = new SessionService(server.address, grpc.credentials.createInsecure());
  try {
    for (const user of ['alice@example.com', 'u42', 'ünïcödé']) {
      const metadata = new grpc.Metadata();
      metadata.set(HEADER, placementKey(user));
      const created = await new Promise((resolve, reject) => sessions.CreateSession(
        { user_id: user, idle_timeout: { seconds: 60 } }, metadata, { deadline: Date.now() + 5000 },
        (error, response) => (error ? reject(error) : resolve(response))));
      assert.equal(placementOfId(created.session.session_id), placementKey(user), user);
    }
  } finally {
    sessions.close();
  }
});

test('the example runs against the server', { skip }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [example, server.address], {
    env: { ...process.env, NODE_PATH: path.join(here, 'node_modules') },
    timeout: 60_000,
  });
  const lines = stdout.trim().split('\n');
  const placement = lines[0].split(' ');
  assert.deepEqual(placement.slice(0, 2), ['session', 'placement']);
  assert.equal(placement[2], placement[4]);
  assert.ok(lines.includes('session found true'), stdout);
  assert.ok(lines.includes('login allowed true remaining 4'), stdout);
  assert.ok(lines.includes('hits 1'), stdout);
});
