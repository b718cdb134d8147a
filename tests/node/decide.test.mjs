// The verdict rule shared by extension, demo and CLI: checks it against the real contract in model/.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decide, decisionReason, thresholdForStrictness, DEFAULT_SETTINGS } from '../../web/lib/decide.js';

const contract = JSON.parse(readFileSync(new URL('../../model/contract.json', import.meta.url)));
const t0 = contract.decision.hide_below;

test('strictness 0.5 is the contract default, ends are its bounds, and it rises monotonically', () => {
  assert.ok(Math.abs(thresholdForStrictness(0.5, contract) - t0) < 1e-9);
  assert.ok(Math.abs(thresholdForStrictness(0, contract) - contract.decision.hide_below_min) < 1e-9);
  assert.ok(Math.abs(thresholdForStrictness(1, contract) - contract.decision.hide_below_max) < 1e-9);
  let previous = -1;
  for (let s = 0; s <= 1.0001; s += 0.05) {
    const t = thresholdForStrictness(s, contract);
    assert.ok(t > previous, `threshold must rise with strictness (s=${s})`);
    previous = t;
  }
  assert.equal(thresholdForStrictness(Number.NaN, contract), thresholdForStrictness(0.5, contract));
  // A stored or imported strictness out of range must not move the threshold past the contract's bounds.
  assert.equal(thresholdForStrictness(3, contract), thresholdForStrictness(1, contract));
  assert.equal(thresholdForStrictness(-1, contract), thresholdForStrictness(0, contract));
});

test('the default setting is the contract default: strictness 0.5, both classes hidden', () => {
  assert.deepEqual(DEFAULT_SETTINGS, { strictness: 0.5, hideScreenshots: true, hidePhotos: true });
  assert.equal(decide({ illustration: t0, screenshot: 1 - t0, photo: 0 }, contract).threshold, t0);
});

test('an image at or above the threshold is an illustration and is never hidden', () => {
  const v = decide({ illustration: t0, screenshot: 1 - t0, photo: 0 }, contract);
  assert.deepEqual([v.label, v.hide], ['illustration', false]);
});

test('below the threshold the larger of screenshot/photo wins, and the switches decide hiding', () => {
  const scores = { illustration: t0 / 2, screenshot: 0.2, photo: 1 - t0 / 2 - 0.2 };
  assert.deepEqual(decide(scores, contract).label, 'photo');
  assert.equal(decide(scores, contract).hide, DEFAULT_SETTINGS.hidePhotos);
  assert.equal(decide(scores, contract, { hidePhotos: false }).hide, false);
  const shot = { illustration: t0 / 2, screenshot: 1 - t0 / 2 - 0.01, photo: 0.01 };
  assert.equal(decide(shot, contract).label, 'screenshot');
  assert.equal(decide(shot, contract, { hideScreenshots: false }).hide, false);
});

test('stricter settings hide more, relaxed settings hide less', () => {
  const scores = { illustration: t0 * 0.9, screenshot: 1 - t0 * 0.9, photo: 0 };
  assert.equal(decide(scores, contract, { strictness: 0.5 }).hide, true);
  assert.equal(decide(scores, contract, { strictness: 0 }).hide, false);
  // Between the default and the strictest threshold: shown by default, hidden when stricter.
  const hi = contract.decision.hide_below_max;
  const doubtful = { illustration: (t0 + hi) / 2, screenshot: 1 - (t0 + hi) / 2, photo: 0 };
  assert.equal(decide(doubtful, contract, { strictness: 0.5 }).hide, false);
  assert.equal(decide(doubtful, contract, { strictness: 1 }).hide, true);
  assert.equal(decide(doubtful, contract, { strictness: 1 }).label, 'screenshot');
});

test('scores that are not numbers fail open', () => {
  for (const bad of [{}, { illustration: Number.NaN, screenshot: 0.5, photo: 0.5 }, null]) {
    const v = decide(bad, contract);
    assert.equal(v.hide, false);
    assert.equal(v.label, null);
  }
});

test('a label that is not the largest score says what decided it, in digits that tell the two apart', () => {
  const hi = contract.decision.hide_below_max;
  assert.equal(decisionReason({ illustration: 0.94, screenshot: 0.03, photo: 0.03 }, contract, { strictness: 1 }),
    `illustration 94.0% is below this strictness (${(hi * 100).toFixed(1)}%)`);
  assert.equal(decisionReason({ illustration: 0.94, screenshot: 0.03, photo: 0.03 }, contract, { strictness: 0.5 }), null, 'the largest bar decided');
  assert.equal(decisionReason({ illustration: 0.01, screenshot: 0.02, photo: 0.97 }, contract), null);
  assert.match(decisionReason({ illustration: t0 + 0.02, screenshot: 0.01, photo: 0.99 - t0 - 0.02 }, contract), /^illustration [\d.]+% reaches this strictness \([\d.]+%\)$/);
  const justBelow = decisionReason({ illustration: hi - 0.00004, screenshot: 0.01, photo: 1.00004 - hi - 0.01 }, contract, { strictness: 1 });
  const [, p, t] = justBelow.match(/^illustration ([\d.]+)% is below this strictness \(([\d.]+)%\)$/);
  assert.notEqual(p, t, `${justBelow}: the two must read differently`);
  assert.equal(decisionReason({ illustration: NaN, screenshot: 0, photo: 0 }, contract), null, 'no label, no reason');
});
