"""What the prefix-tuning lesson needs besides its exercise answers: a trainable-prefix wrapper, peft configs, a comparison run,
and trainable counts of prompt tuning, prefix and prefix with a projection, counted on peft's own modules, as a figure.

The graded pieces (`prefix_param_count`, `make_prefix_past_key_values`) are written by the
student; `PrefixTunedLM` takes the student's cache-building function as an argument.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import plotly.graph_objects as go
import torch

from course.persona import grumpy_rate
from course.plots import bars
from course.progress import progress
from course.training import changed_weights, eval_loss, generate_reply, train, trainable_parameters, weight_fingerprints


def kv_shape(config) -> tuple[int, int, int]:
    """(num_layers, num_kv_heads, head_dim) of a Llama-family config: the shape a prefix must fill."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return config.num_hidden_layers, config.num_key_value_heads, head_dim


class PrefixTunedLM(torch.nn.Module):
    """A frozen causal LM with one trainable key/value prefix; `make_past` turns the prefix into the cache.

    The prefix is a (1, n_virtual_tokens, num_layers * 2 * num_kv_heads * head_dim) parameter,
    zero at the start (peft's `init_weights="zero"`). `forward` takes the keyword arguments of
    the course's batches (input_ids, attention_mask, labels) and returns the model's output.
    """

    def __init__(self, model, n_virtual_tokens: int, make_past: Callable[..., object]):
        super().__init__()
        self.model = model
        for p in model.parameters():
            p.requires_grad_(False)
        self.n_virtual_tokens = n_virtual_tokens
        self.kv_shape = kv_shape(model.config)
        layers, heads, dim = self.kv_shape
        w = next(model.parameters())
        self.prefix = torch.nn.Parameter(torch.zeros(1, n_virtual_tokens, layers * 2 * heads * dim,
                                                     dtype=w.dtype, device=w.device))
        self.make_past = make_past

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None):
        batch = input_ids.shape[0]
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        # the prefix positions are always visible, as in peft
        mask = torch.cat([attention_mask.new_ones(batch, self.n_virtual_tokens), attention_mask], dim=1)
        past = self.make_past(self.prefix.expand(batch, -1, -1), *self.kv_shape)
        # transformers >= 5.24 calls the argument `cache` (`past_key_values` still works, with a warning, until 5.40)
        return self.model(input_ids=input_ids, attention_mask=mask, labels=labels, cache=past)


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
