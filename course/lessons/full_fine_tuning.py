"""What lesson 01 (full fine-tuning) needs besides its exercise answers.

- the intent classifier: MiniLM with a classification head, batches of the bundled
  `support_intents` set, accuracy;
- forgetting: batches of plain text for a causal LM, so that `course.training.eval_loss`
  gives the mean loss per token on the bundled `general_text` set;
- the memory explorer: `memory_figure` stacks weights, gradients, master copy and optimizer state
  for MiniLM and the SmolLM2 sizes (counted on the meta device), per optimizer and precision.

The graded pieces (`count_parameters`, `training_memory_bytes`, `perplexity`) are written by
the student. `solutions/01-full-fine-tuning/memory_check.py` prints predicted against measured
bytes on any device (run it on a GPU machine for the gpu figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import plotly.graph_objects as go
import torch

from course.data import load_split
from course.data.make_support_intents import INTENTS
from course.memory import OPTIMIZERS, make_optimizer
from course.models import SMOLLM2_SHAPES, smollm2_config, smollm2_param_count
from course.training import IGNORE, to_device
from course.units import GB

ENCODER = "all-minilm-l6-v2"

__all__ = ["INTENTS", "SIZES", "Sizes", "load_intents", "load_intent_classifier",
           "intent_batches", "predict", "accuracy", "text_batches", "SMOLLM2_SHAPES", "smollm2_config", "smollm2_param_count",
           "PRECISIONS", "AUTOCAST", "GPU_MEASURED", "optimizer_states", "memory_parts", "memory_figure"]


# ---------------------------------------------------------------- the intent classifier

def load_intents(split: str) -> list[dict]:
    """Rows {id, text, label} of the bundled support_intents set."""
    return load_split("support_intents", split)


def load_intent_classifier(name: str = ENCODER):
    """(model, tokenizer): the encoder with a new, randomly initialised head for the intents."""
    from transformers import AutoModelForSequenceClassification

    from course.models import load_encoder

    return load_encoder(name, model_class=AutoModelForSequenceClassification, num_labels=len(INTENTS),
                        id2label=dict(enumerate(INTENTS)), label2id={n: i for i, n in enumerate(INTENTS)})


def intent_batches(tokenizer, rows: list[dict], batch_size: int, max_len: int = 64,
                   seed: int | None = None) -> list[dict[str, torch.Tensor]]:
    """Tokenized, padded batches with integer `labels` (shuffled when `seed` is given)."""
    import random

    rows = list(rows)
    if seed is not None:
        random.Random(seed).shuffle(rows)
    batches = []
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        batch = tokenizer([r["text"] for r in chunk], padding=True, truncation=True, max_length=max_len,
                          return_tensors="pt")
        batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        batch["labels"] = torch.tensor([INTENTS.index(r["label"]) for r in chunk])
        batches.append(batch)
    return batches


@torch.no_grad()
def predict(model, batches: list[dict[str, torch.Tensor]]) -> list[int]:
    """The predicted label index of every example."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for batch in batches:
        inputs = {k: v for k, v in to_device(batch, device).items() if k != "labels"}
        out += model(**inputs).logits.argmax(-1).tolist()
    model.train(was_training)
    return out


def accuracy(model, batches: list[dict[str, torch.Tensor]]) -> float:
    """Share of examples whose predicted intent is the label."""
    labels = [y for b in batches for y in b["labels"].tolist()]
    return sum(p == y for p, y in zip(predict(model, batches), labels)) / len(labels)


# ---------------------------------------------------------------- forgetting

def text_batches(tokenizer, texts: list[str], batch_size: int = 8,
                 max_len: int | None = None) -> list[dict[str, torch.Tensor]]:
    """Plain texts as causal-LM batches (labels = the tokens, padding ignored), for `course.training.eval_loss`.

    A text of a single token predicts nothing and is left out.
    """
    encoded = [ids for ids in (tokenizer(t)["input_ids"][:max_len] for t in texts) if len(ids) > 1]
    batches = []
    for i in range(0, len(encoded), batch_size):
        chunk = encoded[i:i + batch_size]
        width = max(len(ids) for ids in chunk)
        pad = tokenizer.pad_token_id
        batches.append({
            "input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids in chunk]),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in chunk]),
            "labels": torch.tensor([ids + [IGNORE] * (width - len(ids)) for ids in chunk]),
        })
    return batches


# ---------------------------------------------------------------- the memory explorer

# bytes per parameter: (weight, gradient, float32 master copy, one optimizer state).
# "bf16 autocast" is what torch.autocast (and the gpu profile) runs: weights, gradients and AdamW state stay float32;
# the bf16 copies of the weights made for the computation are freed, so the step keeps what float32 keeps.
# "bf16 mixed (float32 master)" is the exercise's layout: bf16 weights and gradients, float32 master copy;
# it is not measured here.
AUTOCAST = "bf16 autocast (float32 weights)"
PRECISIONS = {"float32": (4, 4, 0, 4), AUTOCAST: (4, 4, 0, 4), "bf16 mixed (float32 master)": (2, 2, 4, 4),
              "bf16 only": (2, 2, 0, 2)}
OPTIMIZER_LABELS = {"sgd": "SGD", "sgd_momentum": "SGD + momentum", "adamw": "AdamW"}
# bytes held after a full fine-tuning AdamW step on one H200 (solutions/01-full-fine-tuning/gpu_training_memory_h200.jsonl);
# its "full-mixed" set-up is bf16 autocast over float32 weights
GPU_MEASURED = {
    ("SmolLM2-135M", "float32", "adamw"): 2_298_867_200,
    ("SmolLM2-135M", AUTOCAST, "adamw"): 2_277_912_064,
    ("SmolLM2-360M", "float32", "adamw"): 5_961_655_808,
    ("SmolLM2-360M", AUTOCAST, "adamw"): 5_937_636_864,
    ("SmolLM2-1.7B", "float32", "adamw"): 27_449_140_736,
    ("SmolLM2-1.7B", AUTOCAST, "adamw"): 27_449_140_736,
}


@cache
def optimizer_states(name: str) -> int:
    """Tensors of a parameter's size that torch's optimizer `name` keeps per parameter, read after one real step."""
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.ones(3)
    optimizer = make_optimizer(name, [p])
    optimizer.step()
    return sum(torch.is_tensor(t) and t.shape == p.shape for t in optimizer.state[p].values())


def memory_parts(n_params: int, optimizer: str, precision: str) -> dict[str, int]:
    """Bytes a training step keeps for weights, gradients, master copy and optimizer state (no activations)."""
    weight, grad, master, state = PRECISIONS[precision]
    return {"weights": n_params * weight, "gradients": n_params * grad, "float32 master copy": n_params * master,
            "optimizer state": n_params * optimizer_states(optimizer) * state}


def memory_figure(model: str, precision: str, counts: dict[str, int],
                  measured: dict[tuple[str, str, str], float] | None = None) -> go.Figure:
    """Training memory of `counts[model]` parameters per optimizer, stacked by part, with measured values as markers."""
    n = counts[model]
    parts = {name: memory_parts(n, name, precision) for name in OPTIMIZERS}
    labels = [OPTIMIZER_LABELS[name] for name in OPTIMIZERS]
    fig = go.Figure([go.Bar(x=labels, y=[parts[o][part] / GB for o in OPTIMIZERS], name=part)
                     for part in parts["adamw"] if parts["adamw"][part]])
    fig.add_scatter(x=labels, y=[sum(parts[o].values()) / GB for o in OPTIMIZERS], mode="text", showlegend=False,
                    text=[f"{sum(parts[o].values()) / GB:.3g} GB" for o in OPTIMIZERS], textposition="top center")
    seen = [o for o in OPTIMIZERS if (model, precision, o) in (measured or {})]
    if seen:
        fig.add_scatter(x=[OPTIMIZER_LABELS[o] for o in seen], y=[measured[model, precision, o] / GB for o in seen],
                        mode="markers", name="measured after one step",
                        marker=dict(symbol="diamond", size=12, color="black"))
    adamw = sum(parts["adamw"].values())
    fig.update_layout(barmode="stack", height=400, yaxis_title="GB (10⁹ bytes), before activations",
                      title=f"{model}, {precision}: AdamW keeps {adamw / GB:.3g} GB "
                            f"({adamw // n} bytes x {n / 1e6:,.1f}M parameters)")
    return fig


# ---------------------------------------------------------------- lab sizes

@dataclass(frozen=True)
class Sizes:
    """What the lab of lesson 01 runs in one profile (the profile's own fields size the causal LM runs)."""

    cls_steps: int  # full fine-tuning steps of the MiniLM intent classifier
    cls_batch: int
    cls_lr: float
    ft_steps: int  # steps of the forgetting runs (full fine-tuning and LoRA: the same)
    ft_batch: int
    ft_len: int
    full_lr: float  # full fine-tuning learning rate of the causal LM (LoRA uses the profile's lr)
    n_general: int  # general_text passages for perplexity (0 = all 100)
    n_val: int  # airline validation examples for the before / after loss
    n_test: int  # intent test requests for the accuracy (0 = all 160)


SIZES = {
    "smoke": Sizes(cls_steps=4, cls_batch=8, cls_lr=1e-4, ft_steps=1, ft_batch=2, ft_len=96, full_lr=1e-4,
                      n_general=6, n_val=4, n_test=48),
    "cpu": Sizes(cls_steps=40, cls_batch=16, cls_lr=1e-4, ft_steps=20, ft_batch=4, ft_len=128, full_lr=1e-4,
                    n_general=24, n_val=16, n_test=0),
    "gpu": Sizes(cls_steps=150, cls_batch=32, cls_lr=5e-5, ft_steps=100, ft_batch=16, ft_len=256, full_lr=2e-5,
                    n_general=0, n_val=60, n_test=0),
}
