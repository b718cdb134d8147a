// The one place that turns model scores into a verdict, so the extension, the demo page and the CLI
// can never disagree. Rule (chosen for illustration recall): an image is an illustration when
// p(illustration) >= threshold; otherwise it is whichever of screenshot/photo scores higher. Missing an
// illustration costs the user more than showing a screenshot, so the default threshold (from the model
// contract, chosen on held-out sources) is low.

export const DEFAULT_SETTINGS = Object.freeze({
  strictness: 0.5, // 0 = hide only the surest non-illustrations, 0.5 = contract default, 1 = hide more
  hideScreenshots: true,
  hidePhotos: true,
});

/**
 * Maps a strictness in [0, 1] to a hide threshold on p(illustration).
 * 0.5 gives the contract's default; 0 and 1 give its min and max. Interpolates in log-odds so the
 * slider feels even at both ends.
 */
export function thresholdForStrictness(strictness, contract) {
  const { hide_below: mid, hide_below_min: lo, hide_below_max: hi } = contract.decision;
  const s = Number.isFinite(strictness) ? Math.min(1, Math.max(0, strictness)) : 0.5;
  if (s === 0.5) return mid; // exactly the contract's value: sigmoid(logit(t)) can miss t by one ulp
  const logit = (p) => Math.log(p / (1 - p));
  const sigmoid = (x) => 1 / (1 + Math.exp(-x));
  const [a, b, t] = s <= 0.5 ? [logit(lo), logit(mid), s / 0.5] : [logit(mid), logit(hi), (s - 0.5) / 0.5];
  return sigmoid(a + (b - a) * t);
}

/**
 * Why scores got their label when it is not their highest score (the threshold decided, not the
 * largest bar: at strictness 100 % an image with illustration 94 % is a photo), as a short phrase such
 * as "illustration 94.0% is below this strictness (95.0%)"; null when the label's own score is the
 * highest, or there is no label. Percentages as the demo's bars show them, with more digits only where
 * one would read the same as the other.
 */
export function decisionReason(scores, contract, settings = {}) {
  const { label, threshold } = decide(scores, contract, settings);
  if (label === null) return null;
  const highest = contract.labels.reduce((a, b) => (scores[b] > scores[a] ? b : a));
  if (scores[label] >= scores[highest]) return null;
  const positive = contract.decision.positive_label;
  const p = scores[positive];
  let digits = 1;
  while (digits < 4 && (p * 100).toFixed(digits) === (threshold * 100).toFixed(digits)) digits += 1;
  const percent = (x) => `${(x * 100).toFixed(digits)}%`;
  return `${positive} ${percent(p)} ${label === positive ? 'reaches' : 'is below'} this strictness (${percent(threshold)})`;
}

/**
 * scores: {illustration, screenshot, photo} probabilities. settings: partial DEFAULT_SETTINGS.
 * Returns {label, hide, threshold}: label is the verdict at this strictness; hide says whether the
 * user's switches hide that label.
 */
export function decide(scores, contract, settings = {}) {
  const { strictness, hideScreenshots, hidePhotos } = { ...DEFAULT_SETTINGS, ...settings };
  const threshold = thresholdForStrictness(strictness, contract);
  const positive = contract.decision.positive_label;
  // Scores that are not numbers cannot justify hiding anything: fail open.
  if (!contract.labels.every((name) => Number.isFinite(scores?.[name]))) return { label: null, hide: false, threshold };
  let label = positive;
  if (!(scores[positive] >= threshold)) {
    label = null;
    for (const name of contract.labels) {
      if (name !== positive && (label === null || scores[name] > scores[label])) label = name;
    }
  }
  const hide = (label === 'screenshot' && hideScreenshots) || (label === 'photo' && hidePhotos);
  return { label, hide, threshold };
}
