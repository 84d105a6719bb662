// RateLimitService.StreamRateLimits from Node (@grpc/grpc-js + @grpc/proto-loader) against the
// built binary, as a gateway uses it: one stream, checks tagged with ids, answers matched by id;
// a bad check answered by its own error while the stream stays open. HOURGLASS_BIN names the
// binary.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startServer } from './hourglass_server.mjs';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const here = path.dirname(fileURLToPath(import.meta.url));
const protoRoot = path.resolve(here, '../../../proto');
const definition = protoLoader.loadSync(path.join(protoRoot, 'hourglass/v1/ratelimit.proto'), {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [protoRoot],
});
const { RateLimitService } = grpc.loadPackageDefinition(definition).hourglass.v1;

let server;
let limits;

before(async () => {
  server = await startServer();
  limits = new RateLimitService(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
});

after(() => {
  limits?.close();
  server?.child.kill('SIGTERM');
});

const check = (id, key, limit) =>
  ({ id: String(id), check: { key, limit: String(limit), period: { seconds: '60', nanos: 0 } } });

test('a gateway streams checks and matches answers by id', async () => {
  const stream = limits.StreamRateLimits({ deadline: Date.now() + 10_000 });
  const answers = new Map();
  const done = new Promise((resolve, reject) => {
    stream.on('data', (answer) => answers.set(answer.id, answer));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (let i = 0; i < 4; i++) stream.write(check(10 + i, 'node:client-1', 2));
  stream.write({ id: '99', check: { key: 'node:client-1', limit: '0',
                                    period: { seconds: '60', nanos: 0 } } });
  stream.write(check(20, 'node:client-2', 2));
  stream.end();
  await done;
  assert.deepEqual([10, 11, 12, 13].map((id) => answers.get(String(id)).result.allowed),
                   [true, true, false, false]);
  assert.equal(answers.get('99').outcome, 'error');
  assert.equal(answers.get('99').error.code, grpc.status.INVALID_ARGUMENT);
  assert.match(answers.get('99').error.message, /check\.limit/);
  assert.equal(answers.get('20').result.allowed, true);
  assert.equal(answers.get('20').result.remaining, '1');
});
