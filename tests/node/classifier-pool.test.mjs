// The pool's pure parts in Node: how many workers and threads a machine gets, and the refusals that
// need no browser. The pool itself runs in Chromium: tests/e2e/classifier-pool.test.mjs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { createClassifierPool, poolPlan } from '../../web/lib/classifier-pool.js';

const contract = JSON.parse(readFileSync(new URL('../../model/contract.json', import.meta.url), 'utf8'));

test('poolPlan: two 1-thread workers on small machines, more threads per worker on big ones', () => {
  assert.deepEqual(poolPlan({ cores: 1, isolated: true }), { workers: 1, threads: 1 });
  assert.deepEqual(poolPlan({ cores: 2, isolated: true }), { workers: 2, threads: 1 });
  assert.deepEqual(poolPlan({ cores: 4, isolated: true }), { workers: 2, threads: 1 });
  assert.deepEqual(poolPlan({ cores: 8, isolated: true }), { workers: 2, threads: 3 });
  assert.deepEqual(poolPlan({ cores: 32, isolated: true }), { workers: 2, threads: 4 });
  // Without cross-origin isolation there is no SharedArrayBuffer, hence no ORT threads.
  assert.deepEqual(poolPlan({ cores: 8, isolated: false }), { workers: 2, threads: 1 });
});

test('createClassifierPool: refuses missing arguments and says so when workers cannot start', async () => {
  await assert.rejects(createClassifierPool({ contract, ortUrl: 'x.mjs' }), /model \(bytes\), contract and ortUrl are required/);
  await assert.rejects(createClassifierPool({ model: 'model.onnx', contract, ortUrl: 'x.mjs' }), /model \(bytes\)/);
  await assert.rejects(createClassifierPool({ model: new Uint8Array(4), ortUrl: 'x.mjs' }), /required/);
  // Node has no Web Worker: every start fails, and the pool rejects with the reason.
  const hadWorker = 'Worker' in globalThis;
  if (!hadWorker) {
    await assert.rejects(createClassifierPool({ model: new Uint8Array(4), contract, ortUrl: 'x.mjs', workers: 2 }),
      /cannot start a classifier worker \(.*Worker/);
  }
});
