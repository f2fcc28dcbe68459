"""benchmarks/gpu_check.py: its dry run goes through every set-up on the CPU (the GPU run is the same code)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_trains_every_setup_and_checks_nf4(tmp_path):
    out = tmp_path / "check.jsonl"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    header, *steps, nf4 = [json.loads(line) for line in out.read_text().splitlines()]
    assert header["card"] == "dry run (CPU)"
    assert [row["setup"][:6] for row in steps] == ["full f", "LoRA r", "LoRA r", "prompt", "prefix", "QLoRA ", "DPO wi",
                                                    "distil"]
    assert [row["checkpointing"] for row in steps] == [True, False, False, False, False, False, True, True]
    dpo, distill = steps[-2:]
    assert (dpo["batch"], dpo["length"]) == (4, 96), "DPO: 2 pairs of sequences 64 tokens longer"
    # bf16 weights, NF4 with double quantization, or a teacher and a 1-layer student: course.memory's bytes hold
    for row in steps:
        assert abs(row["weights_GB"] / row["predicted_weights_GB"] - 1) < 0.01, row
    assert steps[5]["weights_GB"] < 0.9 * steps[0]["weights_GB"], "the 4-bit model is smaller"
    assert distill["weights_GB"] > 1.4 * steps[0]["weights_GB"], "distillation holds the teacher and a student"
    assert abs(dpo["loss_first"] - 0.6931) < 1e-3, "LoRA starts at B = 0: policy = reference, DPO's loss log 2"
    full = steps[0]
    assert full["loss_last"] < full["loss_first"] - 0.1, full  # every weight trains: the loss moves in 4 steps
    assert all(row["measured_GB"] is None and row["mfu"] is None for row in steps), "no GPU: nothing measured"
    assert nf4["codes_equal_cpu"] and nf4["absmax_equal_cpu"]
    assert 0.40 < nf4["nf4_share_of_bf16"] < 0.43, nf4  # SmolLM2-135M: its embeddings stay in 16 bits
    assert 0.29 < nf4["nf4_share_of_bf16_1.7B"] < 0.31, nf4  # 1.7B: the embeddings weigh less, the share falls
