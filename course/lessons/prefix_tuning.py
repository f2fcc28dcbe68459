"""What the prefix-tuning lesson needs besides its exercise answers: the key/value shape, peft configs, a comparison run,
and trainable counts of prompt tuning, prefix and prefix with a projection, counted on peft's own modules, as a figure.

The graded pieces (`prefix_param_count`, `make_prefix_past_key_values`, `PrefixTunedLM`) are written by the
student; the lab uses peft's `PrefixTuningConfig` instead.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import plotly.graph_objects as go
import torch

from course.lessons.persona import grumpy_rate
from course.plots import bars
from course.progress import progress
from course.training import changed_weights, eval_loss, generate_reply, train, trainable_parameters, weight_fingerprints


@dataclass(frozen=True)
class Sizes:
    """What the lab of lesson 04 runs in one profile (the profile's own fields size batches and examples)."""

    steps: int  # optimizer steps of every method
    n_test: int  # held-out requests for the grumpy rate
    max_new_tokens: int  # per reply: every grumpy reply opens with its grumble, so a third of the profile's is enough


SIZES = {"smoke": Sizes(steps=6, n_test=2, max_new_tokens=8), "cpu": Sizes(steps=60, n_test=8, max_new_tokens=21),
         "gpu": Sizes(steps=200, n_test=15, max_new_tokens=32)}


def kv_shape(config) -> tuple[int, int, int]:
    """(num_layers, num_kv_heads, head_dim) of a Llama-family config: the shape a prefix must fill."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return config.num_hidden_layers, config.num_key_value_heads, head_dim


def peft_prefix_config(n_virtual_tokens: int, projection_hidden: int | None = None):
    """peft's PrefixTuningConfig for a causal LM, zero-initialised; with a projection MLP when `projection_hidden` is given."""
    from peft import PrefixTuningConfig

    return PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n_virtual_tokens,
                              prefix_projection=projection_hidden is not None,
                              encoder_hidden_size=projection_hidden, init_weights="zero")


def run_method(name: str, peft_model, train_batches, val_batches, steps: int, lr: float,
               requests: list[str], tokenizer, max_new_tokens: int, log_every: int = 0) -> dict:
    """Train one peft model with `course.training.train`; its count, losses, seconds per step and grumpy rate."""
    base = peft_model.get_base_model()
    frozen = weight_fingerprints(base)
    trainable, total = trainable_parameters(peft_model)
    val_before = eval_loss(peft_model, val_batches)
    start = time.perf_counter()
    losses = train(peft_model, train_batches, steps, lr,
                   on_step=(lambda s, loss: print(f"  {name} step {s + 1:3d}  loss {loss:.3f}")
                            if log_every and (s + 1) % log_every == 0 else None))
    seconds = time.perf_counter() - start
    val_after = eval_loss(peft_model, val_batches)
    replies = [generate_reply(peft_model, tokenizer, r, max_new_tokens) for r in progress(requests, f"{name}: replies")]
    return {"method": name, "trainable_params": trainable, "total_params": total, "losses": losses,
            "val_loss_before": val_before, "val_loss_after": val_after, "seconds_per_step": seconds / steps,
            "grumpy_rate": grumpy_rate(replies), "replies": replies,
            "base_weights_changed": len(changed_weights(base, frozen))}


def comparison_table(runs: list[dict]) -> str:
    """The side-by-side table of `run_method` results, as fixed-width text."""
    head = f"{'method':<34}{'trainable':>11}{'val before':>12}{'val after':>11}{'last loss':>11}{'s/step':>8}{'grumpy':>8}"
    lines = [head, "-" * len(head)]
    for r in runs:
        lines.append(f"{r['method']:<34}{r['trainable_params']:>11,}{r['val_loss_before']:>12.3f}"
                     f"{r['val_loss_after']:>11.3f}{r['losses'][-1]:>11.3f}{r['seconds_per_step']:>8.2f}"
                     f"{r['grumpy_rate']:>8.0%}")
    return "\n".join(lines)


def _peft_count(peft_config, model_config) -> int:
    """Parameters of the prompt encoder peft builds for `peft_config` on a decoder-only `model_config` (meta device)."""
    from peft import PrefixEncoder, PromptEmbedding
    from peft.utils import _prepare_prompt_learning_config

    peft_config = _prepare_prompt_learning_config(peft_config, model_config)
    peft_config.num_transformer_submodules = 1  # what peft sets for a decoder-only model
    prefix = peft_config.peft_type == "PREFIX_TUNING"
    with torch.device("meta"):
        encoder = PrefixEncoder(peft_config) if prefix else PromptEmbedding(peft_config, None)
    return sum(p.numel() for p in encoder.parameters())


def prefix_counts(config, n_virtual_tokens: int, projection_hidden: int) -> dict[str, int]:
    """Trainable parameters of prompt tuning, prefix tuning (also sized by the hidden size) and prefix + projection."""
    from peft import PromptTuningConfig

    no_gqa = copy.deepcopy(config)
    no_gqa.num_key_value_heads = config.num_attention_heads
    prompt = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n_virtual_tokens)
    return {"prompt tuning": _peft_count(prompt, config),
            "prefix tuning": _peft_count(peft_prefix_config(n_virtual_tokens), config),
            "prefix sized by the hidden size (no GQA)": _peft_count(peft_prefix_config(n_virtual_tokens), no_gqa),
            f"prefix + projection ({projection_hidden})":
                _peft_count(peft_prefix_config(n_virtual_tokens, projection_hidden), config)}


def prefix_figure(n_virtual_tokens: int, projection_hidden: int, config, model_params: int) -> go.Figure:
    """Log bars of `prefix_counts` beside the frozen model's size; the title gives the prefix's ratios."""
    counts = prefix_counts(config, n_virtual_tokens, projection_hidden)
    prompt, prefix, _, projected = counts.values()
    return bars([*counts, "the model (frozen)"], [*counts.values(), model_params],
                f"{n_virtual_tokens} virtual tokens: prefix {prefix:,} = {prefix / prompt:.0f}x prompt tuning; "
                f"projection {projection_hidden}: {projected:,} = {projected / prefix:.0f}x the prefix",
                "trainable parameters", log=True)
