"""A small, readable training loop for chat fine-tuning, shared by every lesson.

Examples are (request, reply) pairs rendered with the model's chat template; the loss is
computed on the reply tokens only (prompt tokens get the label -100).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable

import torch

from course.progress import progress

IGNORE = -100


def chat_prompt(tokenizer, request: str, system: str | None = None) -> str:
    """The chat-template text that asks the assistant to answer `request`, under the system prompt `system` if given."""
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages.append({"role": "user", "content": request})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def encode_pair(tokenizer, request: str, reply: str, max_len: int) -> dict[str, list[int]]:
    """Token ids and labels for one exchange; labels mask the prompt, keep the reply and its end."""
    prompt = tokenizer(chat_prompt(tokenizer, request), add_special_tokens=False)["input_ids"]
    answer = tokenizer(reply + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    ids = (prompt + answer)[:max_len]
    labels = ([IGNORE] * len(prompt) + answer)[:max_len]
    return {"input_ids": ids, "labels": labels}


def collate(examples: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of encoded examples into one batch."""
    width = max(len(e["input_ids"]) for e in examples)
    batch = {"input_ids": [], "attention_mask": [], "labels": []}
    for e in examples:
        pad = width - len(e["input_ids"])
        batch["input_ids"].append(e["input_ids"] + [pad_id] * pad)
        batch["attention_mask"].append([1] * len(e["input_ids"]) + [0] * pad)
        batch["labels"].append(e["labels"] + [IGNORE] * pad)
    return {k: torch.tensor(v) for k, v in batch.items()}


def make_batches(tokenizer, rows: list[dict], batch_size: int, max_len: int,
                 seed: int | None = None) -> list[dict[str, torch.Tensor]]:
    """Encode `rows` (dicts with request and reply) into batches, shuffled when `seed` is given."""
    rows = list(rows)
    if seed is not None:
        random.Random(seed).shuffle(rows)
    encoded = [encode_pair(tokenizer, r["request"], r["reply"], max_len) for r in rows]
    return [collate(encoded[i:i + batch_size], tokenizer.pad_token_id)
            for i in range(0, len(encoded), batch_size)]


def to_device(batch: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    """The batch with every tensor moved to `device`."""
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def eval_loss(model, batches: Iterable[dict[str, torch.Tensor]]) -> float:
    """Mean cross-entropy per reply token over all batches."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    for batch in batches:
        n = int((batch["labels"][:, 1:] != IGNORE).sum())  # the model shifts labels by one
        total += float(model(**to_device(batch, device)).loss) * n
        tokens += n
    model.train(was_training)
    return total / tokens


def trainable_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


PRECISIONS = ("fp32", "bf16-mixed", "fp16-mixed")


def mixed_precision(capability: tuple[int, int]) -> str:
    """The mixed precision of a GPU of compute `capability`: bf16 from 8.0, fp16 below.

    `torch.cuda.is_bf16_supported()` says True on a T4 (7.5), where bf16 is emulated and slow; the capability does not.
    """
    return "bf16-mixed" if tuple(capability) >= (8, 0) else "fp16-mixed"


def default_precision(device: torch.device | str) -> str:
    """The precision of a training run on `device`: float32 on a CPU, `mixed_precision` of the card on a GPU."""
    device = torch.device(device)
    if device.type != "cuda":
        return "fp32"
    return mixed_precision(torch.cuda.get_device_capability(device))


def float32_master_weights(params: list[torch.nn.Parameter]) -> None:
    """Hold every trainable parameter in float32 (in place).

    AdamW on bf16 weights loses its updates: 0.02 - 2e-5 rounds back to 0.02 in bf16. Mixed
    precision computes in 16 bits under autocast and keeps the weights it updates in float32.
    """
    for p in params:
        if p.dtype != torch.float32:
            p.data = p.data.float()


def train(model, batches: list[dict[str, torch.Tensor]], steps: int, lr: float,
          on_step: Callable[[int, float], None] | None = None, seed: int = 0,
          optimizer_class: type[torch.optim.Optimizer] = torch.optim.AdamW,
          batch_loss: Callable[[int], torch.Tensor] | None = None, precision: str | None = None,
          accumulation: int = 1, checkpointing: bool = False) -> list[float]:
    """AdamW (or `optimizer_class`) on the parameters that require grad, cycling over `batches`; returns the losses.

    The loss of a step is the model's own loss on its batch, or `batch_loss(i)` for batch index i when given.
    `precision` ("fp32", "bf16-mixed", "fp16-mixed"; by default the device's, see `default_precision`): the
    trainable weights are float32 in every case, the forward pass runs under autocast in the mixed ones,
    and fp16 scales the loss. `accumulation` batches make one optimizer step; a step's loss is their mean.
    `checkpointing` recomputes each layer's activations in backward instead of keeping them (transformers models).
    """
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: nothing to train")
    if accumulation < 1:
        raise ValueError(f"accumulation must be at least 1, got {accumulation}")
    device = params[0].device
    precision = precision or default_precision(device)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    float32_master_weights(params)
    autocast_dtype = {"bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16-mixed")
    optimizer = optimizer_class(params, lr=lr, weight_decay=0.0)
    if checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    losses = []
    for step in progress(range(steps), "training steps"):
        total = 0.0
        for micro in range(accumulation):
            i = (step * accumulation + micro) % len(batches)
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                loss = batch_loss(i) if batch_loss is not None else model(**to_device(batches[i], device)).loss
            scaler.scale(loss.float() / accumulation).backward()
            total += loss.item() / accumulation
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        losses.append(total)
        if on_step is not None:
            on_step(step, losses[-1])
    if checkpointing:
        model.activation_checkpointing_disable()
    model.eval()
    return losses


def is_prompt_learning(model) -> bool:
    """Whether `model` is a peft prompt-learning model (prompt tuning, prefix tuning, p-tuning)."""
    config = getattr(model, "active_peft_config", None)
    return bool(config is not None and config.is_prompt_learning)


@torch.no_grad()
def greedy_tokens(model, input_ids: torch.Tensor, max_new_tokens: int, eos_token_id: int | None) -> torch.Tensor:
    """Greedy continuation of one prompt (shape (1, n)): the new token ids.

    peft prompt-learning models decode here with a full forward pass per token: with peft 0.21.2
    and transformers 5.24, `generate` re-inserts the virtual tokens at every cached step (prompt
    tuning) or misplaces the prefix (prefix tuning), with or without `use_cache`; measured against
    this loop in tests/test_training.py. Other models use `generate`.
    """
    if not is_prompt_learning(model):
        out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
                             max_new_tokens=max_new_tokens, pad_token_id=eos_token_id)
        return out[0, input_ids.shape[1]:]
    ids = input_ids
    for _ in range(max_new_tokens):
        next_id = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].argmax()
        ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
        if next_id.item() == eos_token_id:
            break
    return ids[0, input_ids.shape[1]:]


def generate_reply(model, tokenizer, request: str, max_new_tokens: int = 64, system: str | None = None) -> str:
    """The greedy answer to one request, under `system` if given (plain, LoRA or prompt-learning peft models)."""
    device = next(model.parameters()).device
    ids = tokenizer(chat_prompt(tokenizer, request, system), add_special_tokens=False, return_tensors="pt")["input_ids"]
    new = greedy_tokens(model, ids.to(device), max_new_tokens, tokenizer.eos_token_id)
    return tokenizer.decode(new, skip_special_tokens=True).strip()


def weight_fingerprints(model: torch.nn.Module) -> dict[str, str]:
    """SHA-256 of each named parameter's bytes: equal fingerprints mean bit-identical weights."""
    return {name: hashlib.sha256(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()
            for name, p in model.named_parameters()}


def changed_weights(model: torch.nn.Module, before: dict[str, str]) -> list[str]:
    """Names of the parameters in `before` whose bytes changed or that are gone (ones added since are ignored)."""
    now = weight_fingerprints(model)
    return [name for name, digest in before.items() if now.get(name) != digest]
