"""Deposit classifier benchmark: held-out accuracy, per-photo latency, agent memory.

Usage: ``.venv/bin/python bench/classifier.py [--data DIR] [--model FILE] [--json]``

1. Accuracy of the model on the ``test`` part of the reproducible split (photos used
   neither for training nor for choosing epochs, hyper-parameters or int8): as is, and
   without the test photos that have a near duplicate in train or val
   (``agent/classifier/near_duplicates.py``); each four ways, with their p50 latencies:
   as the agent runs the model (the kernels ``kernels_for`` picks for this CPU), with
   the reference kernels (operator by operator: the answers the model file defines),
   with the exact fused kernels (``session.x64quantprecision``) and with onnxruntime's
   fast fused kernels (they saturate on x86 CPUs without VNNI).
2. Latency per photo on ONE thread (onnxruntime intra_op 1, inter_op 1), end to end:
   JPEG decode + resize + normalise + inference; p50 and p95, plus the p50 of each step.
3. Peak resident memory (VmHWM) of a fresh Python process that imports the agent's
   packages (agent, protocol, firmware_config, paho, pydantic), loads the model and
   classifies one photo.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from agent.classifier.evaluate import Evaluation
    from agent.classifier.onnx_backend import OnnxClassifier

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "trashnet-dev"

RSS_PROBE = """
import sys
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith(('VmHWM', 'VmRSS')):
            yield line.split(':')[0], int(line.split()[1]) / 1024
base = dict(hwm())
import agent, agent.hardware.devices, protocol, protocol.messages
import firmware_config, firmware_config.schema
import paho.mqtt.client, pydantic
from agent.classifier import build_classifier
from agent.classifier.preprocess import decode
from firmware_config.schema import Classifier
from pathlib import Path
model = sys.argv[1] or None
classifier = build_classifier(Classifier(model=Path(model) if model else None, threads=1))
result = classifier.classify(decode(Path(sys.argv[2])), 150.0)
after = dict(hwm())
print(base['VmHWM'], after['VmHWM'], after['VmRSS'], result.category)
"""


def step_latencies(model: Path | None, photos: list[Path]) -> dict[str, float]:
    """p50 of each step separately, in milliseconds, on one thread."""
    from agent.classifier.onnx_backend import OnnxClassifier
    from agent.classifier.preprocess import decode

    classifier = OnnxClassifier(model, threads=1, weight_check=False)
    prep = classifier.metadata.preprocessing
    steps: dict[str, list[float]] = {"decode": [], "resize+normalise": [], "inference": []}
    for photo in photos:
        t0 = time.perf_counter()
        image = decode(photo)
        t1 = time.perf_counter()
        tensor = prep.tensor(image)
        t2 = time.perf_counter()
        classifier.image_probabilities(tensor)
        t3 = time.perf_counter()
        steps["decode"].append(t1 - t0)
        steps["resize+normalise"].append(t2 - t1)
        steps["inference"].append(t3 - t2)
    return {name: float(np.percentile(values, 50) * 1000) for name, values in steps.items()}


def cpu_summary() -> dict[str, object]:
    """The CPU's model name and whether it has the int8 dot-product instructions (VNNI)."""
    from agent.classifier.cpu import this_cpu

    cpu = this_cpu()
    return {"cpu": cpu.model, "avx2": "avx2" in cpu.flags, "vnni": cpu.vnni}


def accuracy_figures(classifier: OnnxClassifier, data: Path) -> tuple[dict[str, Any], Evaluation]:
    """Accuracy on test, as is and without near duplicates, and the full evaluation."""
    from agent.classifier.evaluate import evaluate

    raw = evaluate(classifier, data, split="test")
    clean = evaluate(classifier, data, split="test", exclude_near_duplicates=True)
    return {
        "accuracy": round(raw.scores.accuracy, 4),
        "n": raw.scores.n,
        "correct": round(raw.scores.accuracy * raw.scores.n),
        "accuracy_without_near_duplicates": round(clean.scores.accuracy, 4),
        "n_without_near_duplicates": clean.scores.n,
        "correct_without_near_duplicates": round(clean.scores.accuracy * clean.scores.n),
        "near_duplicates_excluded": len(clean.near_duplicates_excluded),
        "near_duplicates_excluded_files": list(clean.near_duplicates_excluded),
        "latency_ms_p50": round(raw.latency_ms_p50, 2),
        "latency_ms_p95": round(raw.latency_ms_p95, 2),
    }, raw


def main() -> None:
    """Print the figures quoted in docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"photo data set not found at {args.data}")

    from agent.classifier.evaluate import select
    from agent.classifier.onnx_backend import OnnxClassifier

    classifier = OnnxClassifier(args.model, threads=1, weight_check=False)
    meta = classifier.metadata
    agent, result = accuracy_figures(classifier, args.data)
    reference, _ = accuracy_figures(classifier.with_kernels("reference"), args.data)
    exact, _ = accuracy_figures(classifier.with_kernels("exact"), args.data)
    fast, _ = accuracy_figures(classifier.with_kernels("fast"), args.data)
    photos = [s.path for s in select(args.data, meta.labels, "test")]
    steps = step_latencies(args.model, photos)
    probe = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(args.model or ""), str(photos[0])],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    base_hwm, peak_hwm, rss_after, category = probe.stdout.split()
    figures = {
        "model": str(classifier.path),
        "model_version": meta.version,
        "precision": meta.precision,
        "model_size_mb": round(classifier.path.stat().st_size / 1e6, 2),
        "input_size": meta.input_size,
        **cpu_summary(),
        "kernels": classifier.kernels,
        "split": "test",
        "n": result.scores.n,
        "accuracy": round(result.scores.accuracy, 4),
        "latency_ms_p50": round(result.latency_ms_p50, 2),
        "latency_ms_p95": round(result.latency_ms_p95, 2),
        "agent_session": agent,
        "reference_kernels": reference,
        "exact_kernels": exact,
        "fast_kernels": fast,
        "step_ms_p50": {name: round(value, 2) for name, value in steps.items()},
        "peak_rss_mb": round(float(peak_hwm), 1),
        "python_start_rss_mb": round(float(base_hwm), 1),
        "rss_after_classify_mb": round(float(rss_after), 1),
        "probe_category": category,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"model        {figures['model']} ({meta.version}, {meta.precision}, "
        f"{figures['model_size_mb']} MB, input {meta.input_size} px)"
    )
    print(
        f"cpu          {figures['cpu']} (AVX2 {figures['avx2']}, VNNI {figures['vnni']}): "
        f"the agent runs {classifier.kernels} kernels"
    )
    variants = (("agent", agent), ("reference", reference), ("exact", exact), ("fast", fast))
    for name, figs in variants:
        print(
            f"accuracy     {name:<9} test {figs['accuracy']:.4f} "
            f"({figs['correct']}/{figs['n']}); without near duplicates "
            f"{figs['accuracy_without_near_duplicates']:.4f} "
            f"({figs['correct_without_near_duplicates']}/{figs['n_without_near_duplicates']}, "
            f"{figs['near_duplicates_excluded']} left out); p50 {figs['latency_ms_p50']} ms"
        )
    print(f"  left out    {', '.join(agent['near_duplicates_excluded_files'])}")
    print("per class (as the agent runs it, all test photos):")
    for label, s in result.scores.per_class.items():
        print(
            f"  {label:<10} precision {s.precision or 0:.3f} recall {s.recall or 0:.3f} "
            f"(n = {s.support})"
        )
    print(
        f"latency      p50 {result.latency_ms_p50:.2f} ms, p95 {result.latency_ms_p95:.2f} ms "
        "per photo, 1 thread, decode + resize + normalise + inference"
    )
    print("  step p50   " + ", ".join(f"{k} {v:.2f} ms" for k, v in steps.items()))
    print(
        f"memory       peak RSS (VmHWM) {figures['peak_rss_mb']} MB of a fresh agent process "
        f"with the model loaded (Python alone: {figures['python_start_rss_mb']} MB)"
    )


if __name__ == "__main__":
    main()
