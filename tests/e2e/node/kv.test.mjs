// KeyValueService from Node (@grpc/grpc-js + @grpc/proto-loader) against the built binary:
// SETEX + TTL/PTTL + PERSIST + EXPIREAT, a pipeline via Batch, the INCR + EXPIRE counter via
// Increment with ttl_on_create. Run with `node --test`; HOURGLASS_BIN names the binary.

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
const definition = protoLoader.loadSync(path.join(protoRoot, 'hourglass/v1/kv.proto'), {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [protoRoot],
});
const { KeyValueService } = grpc.loadPackageDefinition(definition).hourglass.v1;

let server;
let kv;

// A unary call as a promise, with a 5 s deadline.
function call(method, request) {
  return new Promise((resolve, reject) => {
    kv[method](request, { deadline: Date.now() + 5000 }, (error, response) =>
      error ? reject(error) : resolve(response));
  });
}

const seconds = (n) => ({ seconds: String(n), nanos: 0 });
const toMs = (t) => Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6);

before(async () => {
  server = await startServer();
  kv = new KeyValueService(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
});

after(() => {
  kv.close();
  server.child.kill('SIGTERM');
});

test('setex, ttl, pttl, persist, expireat', async () => {
  // SETEX session:1 60 alice
  assert.equal((await call('Set', { key: 'session:1', value: Buffer.from('alice'),
                                    ttl: seconds(60) })).applied, true);
  const got = await call('Get', { key: 'session:1' });
  assert.equal(got.found, true);
  assert.equal(got.value.toString(), 'alice');

  // TTL / PTTL / EXPIRETIME
  let ttl = await call('GetTtl', { key: 'session:1' });
  assert.equal(ttl.state, 'KEY_STATE_EXPIRING');
  const pttl = toMs(ttl.ttl);
  assert.ok(pttl > 58_000 && pttl <= 60_000, `pttl ${pttl}`);
  assert.ok(Math.abs(toMs(ttl.expire_time) - (Date.now() + 60_000)) < 3000);

  // PERSIST
  assert.equal((await call('Persist', { key: 'session:1' })).applied, true);
  ttl = await call('GetTtl', { key: 'session:1' });
  assert.equal(ttl.state, 'KEY_STATE_NO_EXPIRY');
  assert.equal(ttl.expire_time, null);

  // EXPIREAT now + 120 s
  const at = Math.floor(Date.now() / 1000) + 120;
  assert.equal((await call('Expire', { key: 'session:1', expire_time: seconds(at) })).applied,
               true);
  ttl = await call('GetTtl', { key: 'session:1' });
  assert.ok(Math.abs(toMs(ttl.expire_time) - at * 1000) <= 5);

  // EXPIRE session:1 0 deletes it
  assert.equal((await call('Expire', { key: 'session:1', ttl: seconds(0) })).applied, true);
  assert.equal((await call('Get', { key: 'session:1' })).found, false);
});

test('a pipeline via Batch', async () => {
  const { results } = await call('Batch', {
    ops: [
      { set: { key: 'a', value: Buffer.from('1') } },
      { get: { key: 'a' } },
      { increment: { key: 'a', delta: '1' } },
      { set: { key: '', value: Buffer.from('x') } },
    ],
  });
  assert.deepEqual(results.map((r) => r.result), ['set', 'get', 'increment', 'error']);
  assert.equal(results[1].get.value.toString(), '1');
  assert.equal(results[2].increment.value, '2');
  assert.equal(results[3].error.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(results[3].error.message, 'key: required');
});

test('the INCR + EXPIRE counter via Increment with ttl_on_create', async () => {
  const request = { key: 'hits:today', delta: '1', ttl_on_create: seconds(86400) };
  const first = await call('Increment', request);
  const second = await call('Increment', request);
  assert.equal(first.value, '1');
  assert.equal(second.value, '2');
  assert.ok(Math.abs(toMs(second.expire_time) - toMs(first.expire_time)) <= 5);

  await call('Set', { key: 'name', value: Buffer.from('alice') });
  await assert.rejects(call('Increment', { key: 'name', delta: '1' }),
                       (error) => error.code === grpc.status.FAILED_PRECONDITION);
});
