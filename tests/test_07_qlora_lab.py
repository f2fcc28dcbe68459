"""The QLoRA lab (lesson 07) runs as a learner opens it, in the smoke profile, and shows what it says.

Measured with seed 0 on the reference machine (smoke: 6 steps of batch 4 x 96 tokens): validation
loss 3.142 -> 0.991 (0.32 of the start), NF4 MSE 3.66e-4 vs int4 5.50e-4 on q_proj, 4.500 and
4.127 bits per parameter, 39 weights changed by a planted outlier with blocks of 64 vs 46,872 with
one absmax for the matrix.
"""

from __future__ import annotations

import torch

from labs import has_plot, has_widget, run_lab

QLORA_R8_ALL_LINEARS = 2_442_240  # sum of 8 (d_in + d_out) over SmolLM2-135M's 210 decoder linears


def test_qlora_lab_runs_and_shows_its_results():
    text, outputs, results = run_lab("07-qlora")
    assert has_plot(outputs), "no plot"
    assert has_widget(outputs, "Dropdown("), "no NF4 block-size explorer"

    # memory: the ordering, and get_memory_footprint's blind spot for double quantization
    footprint = results["footprint_mb"]
    assert footprint["float32"] > footprint["bfloat16"] > footprint["NF4"], footprint
    assert footprint["NF4"] == footprint["NF4 + double quant"], footprint
    constants = {k: v["quantization constants"] for k, v in results["quantized_bytes_mb"].items()}
    assert constants["NF4 + double quant"] < 0.5 * constants["NF4"], constants
    assert abs(results["bits_per_param_nf4"] - 4.5) < 0.01, results["bits_per_param_nf4"]
    assert abs(results["bits_per_param_nf4_dq"] - 4.127) < 0.01, results["bits_per_param_nf4_dq"]
    # every stored tensor of the 4-bit model (16-bit embedding and norms) against bf16: 41%, not a quarter, at 135M
    assert abs(results["nf4_dq_share_of_bf16"] - 0.414) < 0.01, results["nf4_dq_share_of_bf16"]
    assert results["bits_per_param_stored_nf4_dq"] > results["bits_per_param_nf4_dq"]  # + per-layer tables
    assert results["capital_answer_says_paris"], results["capital_answer"]

    # NF4 beats evenly spaced levels; blocks keep an outlier's damage inside one block
    assert results["nf4_mse"] < results["int4_mse"], results
    assert results["outlier_changed_blocks64"] < 64 and results["outlier_changed_nf4_blocks64"] < 64, results
    assert results["outlier_changed_single_absmax"] > 100 * results["outlier_changed_blocks64"], results

    # QLoRA: the count, the frozen 4-bit base, gradients everywhere, a falling loss
    assert results["trainable_params"] == results["lora_formula_params"] == QLORA_R8_ALL_LINEARS, results
    assert results["base_unchanged"] is True
    assert results["adapters_without_gradient"] == 0 and results["lora_b_norm_layer0"] > 0, results
    if torch.cpu._is_avx512_bf16_supported():  # the repacking pitfall the lab demonstrates exists here
        assert results["pitfall_adapters_without_gradient"] > 0, results
    assert results["val_loss_after"] < 0.85 * results["val_loss_before"], results
    assert results["lora_val_loss_after"] < 0.85 * results["lora_val_loss_before"], results
    assert results["optimizer"] == "AdamW"  # smoke runs on a CPU: nothing to page
    assert "paged optimizers solve a GPU problem" in text
    assert "BEFORE :" in text and "AFTER  :" in text
