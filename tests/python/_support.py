"""Shared helpers for the Python tests: where the repository, tools and real images are.

Why: every test needs tools/training/ on sys.path (the tools import each other as scripts) and must skip with a
clear message when the real-image data set (env ILLUST_ONLY_DATA, default <repo>/../shared/data) is absent.
"""
import os
import shutil
import sys
import unittest
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = REPO_ROOT / "tools" / "training"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

DATA_DIR = Path(os.environ.get("ILLUST_ONLY_DATA", REPO_ROOT.parent / "shared" / "data"))


def require_data():
    if not all((DATA_DIR / label).is_dir() for label in ("illustration", "screenshot", "photo")):
        raise unittest.SkipTest(f"real-image data not found at {DATA_DIR} (set ILLUST_ONLY_DATA)")
    return DATA_DIR


def require_node_package(name: str):
    if shutil.which("node") is None:
        raise unittest.SkipTest("node is not installed")
    if not (REPO_ROOT / "node_modules" / name).is_dir():
        raise unittest.SkipTest(f"node_modules/{name} missing: run `bash tools/setup.sh`")


def spread_samples(samples, count):
    """`count` samples spread over the sorted list: every class and many sources, deterministically."""
    step = max(1, len(samples) // count)
    return [samples[i] for i in range(0, len(samples), step)][:count]
