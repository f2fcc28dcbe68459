"""What the distillation lesson needs besides its exercise answers: a student cut from the teacher,
the teacher's logits computed once, a training loop that takes the loss as an argument, and the
measures the lab reports (agreement with the teacher, size, latency per token).

The graded pieces (`soften`, `distillation_loss`) are written by the student; `distill` takes the
loss function as an argument, so the exercise trains with the student's own loss and the lab with
one built from TRL's `generalized_jsd_loss` (beta=0: the forward KL(teacher || student)).
"""

from __future__ import annotations

import copy
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import plotly.graph_objects as go
import torch

from course.lessons.full_fine_tuning import SIZES as FULL_FT
from course.progress import progress
from course.training import IGNORE, train
from course.units import MB

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # GKD lives in trl.experimental, which warns on import

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
SoftenFn = Callable[[torch.Tensor, float], torch.Tensor]  # (logits, T) -> probabilities: the exercise's `soften`


@dataclass(frozen=True)
class Sizes:
    """How big the lab's runs are in one profile."""

    teacher_steps: int  # full fine-tuning steps (lesson 01's) that make the teacher an airline expert
    teacher_lr: float  # lesson 01's full fine-tuning learning rate
    n_train: int  # training examples whose teacher logits are cached
    student_steps: int  # optimizer steps of each student run (CE only and CE + KL: the same)
    student_layers: int  # transformer layers the student keeps (of the teacher's 30)
    student_lr: float
    latency_tokens: int  # new tokens per timed generation
    latency_repeats: int
    seeds: int  # student runs per objective, each seed a different order of the same batches


SIZES = {
    "smoke": Sizes(teacher_steps=2, teacher_lr=FULL_FT["smoke"].full_lr, n_train=8, student_steps=12, student_layers=4,
                   student_lr=1e-3, latency_tokens=8, latency_repeats=3, seeds=2),
    "cpu": Sizes(teacher_steps=30, teacher_lr=FULL_FT["cpu"].full_lr, n_train=96, student_steps=40, student_layers=6,
                 student_lr=1e-3, latency_tokens=32, latency_repeats=5, seeds=3),
    "gpu": Sizes(teacher_steps=120, teacher_lr=FULL_FT["gpu"].full_lr, n_train=0, student_steps=300, student_layers=8,
                 student_lr=5e-4, latency_tokens=64, latency_repeats=10, seeds=3),
}


def keep_layers(n_teacher: int, n_student: int) -> list[int]:
    """The teacher layers a student keeps: the first ceil(n/2) and the last floor(n/2).

    Measured on SmolLM2-135M (8 airline validation requests): keeping 6 layers this way starts at a
    reply cross-entropy of 11.6, against 16.7 for 6 evenly spaced layers and 17.5 for the first 6.
    """
    if not 1 <= n_student <= n_teacher:
        raise ValueError(f"a student keeps between 1 and {n_teacher} layers, not {n_student}")
    head = (n_student + 1) // 2
    return list(range(head)) + list(range(n_teacher - (n_student - head), n_teacher))


def student_from_teacher(teacher, layers: list[int]):
    """A new causal LM with the teacher's embeddings, final norm and the listed layers (copied, in order)."""
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    if getattr(config, "layer_types", None):  # per-layer attention kinds follow the kept layers
        config.layer_types = [teacher.config.layer_types[i] for i in layers]
    dtype = next(teacher.parameters()).dtype
    student = AutoModelForCausalLM.from_config(config, dtype=dtype).to(next(teacher.parameters()).device)
    student.model.embed_tokens.load_state_dict(teacher.model.embed_tokens.state_dict())
    student.model.norm.load_state_dict(teacher.model.norm.state_dict())
    if not config.tie_word_embeddings:
        student.lm_head.load_state_dict(teacher.lm_head.state_dict())
    for new, old in enumerate(layers):
        student.model.layers[new].load_state_dict(teacher.model.layers[old].state_dict())
    student.generation_config = copy.deepcopy(teacher.generation_config)
    return student.eval()


def freeze_embeddings(model) -> int:
    """Freeze the token embeddings (tied to the LM head in SmolLM2); returns the trainable count left."""
    for p in model.get_input_embeddings().parameters():
        p.requires_grad_(False)
    for p in model.get_output_embeddings().parameters():
        p.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def reply_positions(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask over logits[:, :-1], labels there): the positions that predict a reply token."""
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE
    return keep, labels[keep]


def logits_at_replies(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (kept, vocab), labels (kept,)) of a causal LM at the reply positions of `batch`.

    The output layer runs on those positions only: with 49,152 words it is the costliest matrix of a
    small model, and the prompt's positions would be thrown away.
    """
    device = next(model.parameters()).device
    keep, labels = reply_positions(batch)
    hidden = model.get_decoder()(input_ids=batch["input_ids"].to(device),
                                 attention_mask=batch["attention_mask"].to(device)).last_hidden_state
    return model.get_output_embeddings()(hidden[:, :-1][keep.to(device)]), labels.to(device)


@torch.no_grad()
def teacher_logits(teacher, batches: list[dict[str, torch.Tensor]],
                   dtype: torch.dtype = torch.float16) -> list[torch.Tensor]:
    """The teacher's logits at every reply position of each batch, shape (kept, vocab), computed once.

    Stored in float16 (half the memory; at most about 0.01 off for logits up to 30): a 128-example
    cache of SmolLM2's 49,152-word vocabulary takes about 0.8 GB instead of 1.6 GB.
    """
    teacher.eval()
    out = []
    for batch in progress(batches, "teacher logits"):
        logits, _ = logits_at_replies(teacher, batch)
        out.append(logits.to(dtype).cpu())
    return out


def distill(student, batches: list[dict[str, torch.Tensor]], targets: list[torch.Tensor], steps: int, lr: float,
            loss_fn: LossFn, seed: int = 0, on_step: Callable[[int, float], None] | None = None,
            checkpointing: bool = False) -> list[float]:
    """AdamW on the student's trainable parameters, cycling over `batches` and their cached teacher logits in an
    order drawn from `seed` (the same seed, the same order).

    `loss_fn(student_logits, teacher_logits, labels)` gets the reply positions only, shapes (n, vocab),
    (n, vocab) and (n,); returns the losses per step.
    """
    batch_loss = distill_loss(student, batches, targets, loss_fn)  # checks that every batch has its logits
    order = list(range(len(batches)))
    random.Random(seed).shuffle(order)
    return train(student, [batches[i] for i in order], steps, lr, on_step=on_step, seed=seed,
                 batch_loss=lambda i: batch_loss(order[i]), checkpointing=checkpointing)


def distill_loss(student, batches: list[dict[str, torch.Tensor]], targets: list[torch.Tensor],
                 loss_fn: LossFn) -> Callable[[int], torch.Tensor]:
    """`train`'s batch_loss for distillation: `loss_fn` on batch i's reply positions against its cached logits."""
    if len(batches) != len(targets):
        raise ValueError(f"{len(batches)} batches but teacher logits for {len(targets)}")

    def batch_loss(i: int) -> torch.Tensor:
        logits, labels = logits_at_replies(student, batches[i])
        return loss_fn(logits, targets[i].to(logits.device, logits.dtype), labels)

    return batch_loss


@torch.no_grad()
def compare_to_teacher(model, batches: list[dict[str, torch.Tensor]], targets: list[torch.Tensor]) -> dict[str, float]:
    """On the reply tokens of `batches`: cross-entropy on the data, top-1 agreement with the teacher,
    and KL(teacher || model) at temperature 1 (TRL's generalized_jsd_loss with beta=0), each a mean per token."""
    from trl.experimental.gkd import GKDTrainer

    was_training = model.training
    model.eval()
    ce = agree = kl = 0.0
    n = 0
    for batch, teacher in zip(batches, targets, strict=True):
        logits, labels = logits_at_replies(model, batch)
        teacher = teacher.to(logits.device, logits.dtype)
        k = labels.numel()
        ce += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
        agree += float((logits.argmax(-1) == teacher.argmax(-1)).sum())
        kl += float(GKDTrainer.generalized_jsd_loss(logits, teacher, beta=0.0, reduction="sum"))
        n += k
    model.train(was_training)
    return {"loss": ce / n, "agreement": agree / n, "kl": kl / n}


def model_megabytes(model) -> float:
    """Bytes of the parameters (a tied embedding counted once), in MB."""
    return sum(p.numel() * p.element_size() for p in model.parameters()) / MB


@torch.no_grad()
def seconds_per_token(model, tokenizer, prompt: str, new_tokens: int, repeats: int) -> float:
    """Median over `repeats` greedy generations of exactly `new_tokens` tokens: seconds per new token."""
    device = next(model.parameters()).device
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(device)
    kwargs = dict(attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=new_tokens,
                  min_new_tokens=new_tokens, pad_token_id=tokenizer.eos_token_id)
    model.generate(input_ids=ids, **kwargs)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.generate(input_ids=ids, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / new_tokens


def softened(logits: torch.Tensor, temperature: float, top: int = 15) -> tuple[torch.Tensor, float]:
    """The probabilities at T (torch's softmax of logits / T) of the `top` likeliest tokens, then of all others
    together; their entropy in nats."""
    p = torch.softmax(logits.detach().float() / temperature, dim=-1)
    best = logits.topk(top).indices
    return torch.cat([p[best], (1 - p[best].sum()).reshape(1)]), float(torch.special.entr(p).sum())


def softened_figure(*, logits: torch.Tensor, labels: list[str], temperature: float) -> go.Figure:
    """The labelled top tokens' probabilities at T beside T = 1, the rest of the vocabulary as one bar; entropy in the title."""
    at_t, entropy = softened(logits, temperature, len(labels))
    at_1, entropy_1 = softened(logits, 1.0, len(labels))
    rest = f"the other {logits.numel() - len(labels):,}"
    fig = go.Figure([go.Bar(x=labels + [rest], y=at_1.tolist(), name="T = 1", marker_color="lightgray"),
                     go.Bar(x=labels + [rest], y=at_t.tolist(), name=f"T = {temperature:g}",
                            text=[f"{p:.2f}" for p in at_t.tolist()], textposition="outside")])
    fig.update_layout(title=f"T = {temperature:g}: entropy {entropy:.2f} nats (T = 1: {entropy_1:.2f}); "
                            f"top token {float(at_t[0]):.1%}, {rest} tokens {float(at_t[-1]):.1%}",
                      barmode="group", yaxis_title="probability", yaxis_range=[0, 1.05], height=420,
                      margin=dict(l=40, r=20, t=50, b=100))
    return fig


def temperature_slider(logits: torch.Tensor, labels: list[str], soften: SoftenFn,
                       temperatures: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0), title: str = ""):
    """A plotly bar chart of soften(logits, T) over the labelled entries, with a slider for T."""
    probs = {t: soften(logits.detach().float(), t).tolist() for t in temperatures}
    first = temperatures[0]
    fig = go.Figure(go.Bar(x=labels, y=probs[first], text=[f"{p:.3f}" for p in probs[first]], textposition="outside"))
    steps = [dict(method="update", label=f"T={t:g}",
                  args=[{"y": [probs[t]], "text": [[f"{p:.3f}" for p in probs[t]]]}]) for t in temperatures]
    fig.update_layout(title=title or "Softened distribution: move the slider", yaxis_title="probability",
                      yaxis_range=[0, 1.05], height=400, margin=dict(l=40, r=20, t=50, b=80),
                      sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="temperature: "))])
    return fig
