"""The verdict rule is written twice: web/lib/decide.js (extension, demo, CLI) and illust_metrics.decide (the
threshold choice and every figure in the model card). If they parted, on the threshold itself (>= vs >) or on a
screenshot/photo tie, the card would describe a rule users never get. Both run here on the same scores with the
shipped contract's threshold, JS in node, and must give the same label for every image; the recall that chooses the
threshold must count the images decide keeps."""
import json
import subprocess
import unittest

import numpy as np

from tests.python._support import REPO_ROOT

from illust_metrics import ILLUSTRATION, decide, illustration_recall

CONTRACT = json.loads((REPO_ROOT / "model" / "contract.json").read_text())

# Reads {probs, labels} from stdin; prints decide()'s label for each row at the contract's default strictness.
JS_DECIDE = """
import { decide } from %s;
import { readFileSync } from 'node:fs';
const contract = JSON.parse(readFileSync(%s, 'utf8'));
const rows = JSON.parse(readFileSync(0, 'utf8'));
const scores = (row) => Object.fromEntries(contract.labels.map((name, i) => [name, row[i]]));
console.log(JSON.stringify(rows.map((row) => decide(scores(row), contract).label)));
"""


def js_labels(probs):
    script = JS_DECIDE % (json.dumps((REPO_ROOT / "web" / "lib" / "decide.js").as_uri()),
                          json.dumps(str(REPO_ROOT / "model" / "contract.json")))
    out = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps(probs.tolist()),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


class DecideParityTest(unittest.TestCase):
    def test_js_and_python_give_the_same_label(self):
        t = CONTRACT["decision"]["hide_below"]
        below = np.nextafter(t, 0.0)
        edges = np.array([
            [t, 1 - t, 0.0],                    # exactly at the threshold: an illustration
            [below, 1 - below, 0.0],            # one ulp below: not
            [t / 2, (1 - t / 2) / 2, (1 - t / 2) / 2],  # screenshot and photo tie below the threshold
            [0.0, 0.5, 0.5],
            [t / 2, 0.2, 1 - t / 2 - 0.2],
            [0.9, 0.05, 0.05],
        ])
        rng = np.random.default_rng(7)
        grid = rng.dirichlet([0.3, 1.0, 1.0], 500)  # many rows near the low threshold
        probs = np.concatenate([edges, grid])
        python = [CONTRACT["labels"][i] for i in decide(probs, t)]
        js = js_labels(probs)
        differ = [(row.tolist(), a, b) for row, a, b in zip(probs, js, python) if a != b]
        self.assertEqual(differ[:5], [], "(scores, decide.js, illust_metrics.decide)")
        self.assertEqual(python[:3], ["illustration", "screenshot", "screenshot"])

    def test_recall_counts_what_decide_keeps(self):
        # The threshold is chosen among the illustrations' own scores (largest_threshold_keeping), so the
        # image exactly at it must count as kept in the recall, as decide keeps it.
        rng = np.random.default_rng(11)
        probs = rng.dirichlet([1.0, 1.0, 1.0], 200)
        labels = rng.integers(0, 3, 200)
        for t in np.sort(probs[labels == ILLUSTRATION, ILLUSTRATION])[::20]:
            kept = decide(probs, t)[labels == ILLUSTRATION] == ILLUSTRATION
            self.assertEqual(illustration_recall(labels, probs, t), kept.mean(), f"threshold {t}")


if __name__ == "__main__":
    unittest.main()
