// Starts the built hourglass binary (HOURGLASS_BIN) for a Node e2e test: loopback, free ports.
// Not a test file itself (no .test.mjs): the tests import it.

import { spawn } from 'node:child_process';
import readline from 'node:readline';

// Resolves with { child, port, address } once the binary prints the gRPC port it bound.
export function startServer() {
  const child = spawn(process.env.HOURGLASS_BIN,
                      ['--listen=127.0.0.1:0', '--metrics_listen=127.0.0.1:0'],
                      { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error('hourglass did not start')), 30_000);
    lines.on('line', (line) => {
      const match = /serving gRPC on port (\d+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        const port = Number(match[1]);
        resolve({ child, port, address: `127.0.0.1:${port}` });
      }
    });
    child.on('exit', (code) => reject(new Error(`hourglass exited with ${code}`)));
  });
}
