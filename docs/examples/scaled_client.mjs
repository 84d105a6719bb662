// A Node client of hourglass behind the ring proxy (docs/SCALING.md), with @grpc/grpc-js.
//
// With several hourglass pods, each key lives on one pod, and the proxy (deploy/envoy/
// ring-hash.yaml) picks that pod by hashing the `x-hourglass-key` metadata of each call. The
// value is the call's placement key: the first 4 characters of base64url(SHA-256(owner)), where
// the owner is whatever groups the data (a user id, a token subject, a KV key). hourglass ends
// the session ids and opaque tokens it issues for an owner with those same 4 characters, so a
// call that only has an id finds the right pod from the id itself.
//
// Works the same against a single hourglass (the header is then simply ignored):
//   npm install @grpc/grpc-js @grpc/proto-loader   (or NODE_PATH=tests/e2e/node/node_modules)
//   node docs/examples/scaled_client.mjs 127.0.0.1:50051

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HEADER = 'x-hourglass-key';

// The placement key of everything `owner` owns: base64url of SHA-256(owner)[0:3].
export function placementKey(owner) {
  return createHash('sha256').update(owner, 'utf8').digest().subarray(0, 3).toString('base64url');
}

// The placement key inside a session id or opaque token: its last 4 characters.
export function placementOfId(routedId) {
  return routedId.slice(-4);
}

export async function main(address) {
  const require = createRequire(import.meta.url);
  const grpc = require('@grpc/grpc-js');
  const protoLoader = require('@grpc/proto-loader');
  const protoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../proto');
  const files = ['session', 'ratelimit', 'kv'].map(
    (name) => path.join(protoRoot, `hourglass/v1/${name}.proto`));
  const definition = protoLoader.loadSync(files, {
    keepCase: true, longs: String, enums: String, defaults: true, includeDirs: [protoRoot],
  });
  const v1 = grpc.loadPackageDefinition(definition).hourglass.v1;
  const credentials = grpc.credentials.createInsecure();
  const sessions = new v1.SessionService(address, credentials);
  const limits = new v1.RateLimitService(address, credentials);
  const kv = new v1.KeyValueService(address, credentials);

  // One unary call, sent to the pod owning `placement`.
  const call = (client, method, request, placement) => new Promise((resolve, reject) => {
    const metadata = new grpc.Metadata();
    metadata.set(HEADER, placement);
    client[method](request, metadata, { deadline: Date.now() + 5000 },
                   (error, response) => (error ? reject(error) : resolve(response)));
  });

  try {
    const user = 'alice@example.com';
    // Everything of one user goes to the user's pod: sessions, their index, the user's limits.
    const created = await call(sessions, 'CreateSession',
                               { user_id: user, idle_timeout: { seconds: 1800 } },
                               placementKey(user));
    const sessionId = created.session.session_id;
    console.log('session placement', placementOfId(sessionId), 'user', placementKey(user));

    // Later, with only the id from a cookie: the id carries its placement.
    const got = await call(sessions, 'GetSession', { session_id: sessionId, touch: true },
                           placementOfId(sessionId));
    console.log('session found', got.found);

    const login = await call(limits, 'CheckRateLimit',
                             { key: `login:${user}`, limit: 5, period: { seconds: 60 } },
                             placementKey(user));
    console.log('login allowed', login.allowed, 'remaining', login.remaining);

    // A key with no owner is its own owner.
    const hits = await call(kv, 'Increment',
                            { key: 'hits:/home', delta: 1, ttl_on_create: { seconds: 60 } },
                            placementKey('hits:/home'));
    console.log('hits', hits.value);
  } finally {
    for (const client of [sessions, limits, kv]) client.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main(process.argv[2] ?? '127.0.0.1:50051');
}
