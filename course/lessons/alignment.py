"""What lesson 08 needs besides its exercise answers: data in TRL's formats, trainer settings,
the reward model as a scorer, preference batches, and the stage comparison.

The graded pieces (`mask_prompt_labels`, `sequence_logps`, `bradley_terry_loss`,
`kl_penalized_reward`, `dpo_loss`) are written by the student; the lab uses TRL's own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import plotly.graph_objects as go
import torch

from course.data import load_split
from course.profiles import Profile
from course.progress import enabled as progress_enabled
from course.progress import progress
from course.training import IGNORE, chat_prompt, generate_reply

REWARD_MODEL = "all-minilm-l6-v2"
RM_MAX_LEN = 256


def load_preferences(split: str, hub_id: str | None = None, hub_split: str | None = None) -> list[dict]:
    """Preference rows (prompt, chosen, rejected): the bundled airline set, or a hub dataset when online.

    A hub dataset needs prompt / chosen / rejected columns, each a string or, for chosen and
    rejected, a conversation whose last message is the reply (as in
    HuggingFaceH4/ultrafeedback_binarized, whose splits are train_prefs / test_prefs: pass `hub_split`).
    """
    if hub_id is None:
        return load_split("airline_preferences", split)
    from datasets import load_dataset

    try:
        rows = load_dataset(hub_id, split=hub_split or split)
    except Exception as error:  # offline or unknown id: say what to do instead
        raise RuntimeError(f"could not load {hub_id!r} from the hub ({type(error).__name__}); "
                           "leave hub_id=None to use the bundled airline_preferences set") from error
    missing = {"prompt", "chosen", "rejected"} - set(rows.column_names)
    if missing:
        raise ValueError(f"{hub_id} lacks the columns {sorted(missing)}")

    def text(value) -> str:
        return value[-1]["content"] if isinstance(value, list) else value

    return [{"prompt": text(r["prompt"]), "chosen": text(r["chosen"]), "rejected": text(r["rejected"])} for r in rows]


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def sft_dataset(rows: list[dict]):
    """lesson 06's (request, reply) rows as TRL's conversational prompt / completion format."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": _user(r["request"]), "completion": _assistant(r["reply"])} for r in rows])


def dpo_dataset(rows: list[dict]):
    """Preference rows in TRL's conversational format: the chat template is applied by the trainer."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": _user(r["prompt"]), "chosen": _assistant(r["chosen"]),
                              "rejected": _assistant(r["rejected"])} for r in rows])


def prompt_dataset(rows: list[dict]):
    """Prompts for RL; `request` is passed on to the reward function as a keyword."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": _user(r["prompt"]), "request": r["prompt"]} for r in rows])


def rm_text(request: str, reply: str) -> str:
    """How the reward model reads one exchange (it is an encoder: no chat template)."""
    return f"Customer: {request}\nAgent: {reply}"


def reward_dataset(rows: list[dict]):
    """Preference rows as the text pairs RewardTrainer trains on."""
    from datasets import Dataset

    return Dataset.from_list([{"chosen": rm_text(r["prompt"], r["chosen"]),
                              "rejected": rm_text(r["prompt"], r["rejected"])} for r in rows])


def load_reward_model():
    """MiniLM with a fresh one-logit head (the reward), and its tokenizer."""
    from transformers import AutoModelForSequenceClassification

    from course.models import load_encoder

    model, tokenizer = load_encoder(REWARD_MODEL, AutoModelForSequenceClassification, num_labels=1)
    tokenizer.eos_token = tokenizer.sep_token  # RewardTrainer ends texts with EOS; BERT's is [SEP]
    return model, tokenizer


class RewardScorer:
    """The trained reward model as a function: rewards for (request, reply) pairs.

    An instance is also a TRL reward function: `scorer(prompts, completions, request=...)`.
    """

    __name__ = "reward_model"  # TRL names the logged reward after the function

    def __init__(self, model, tokenizer, batch_size: int = 16):
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size

    @torch.no_grad()
    def score(self, requests: list[str], replies: list[str]) -> torch.Tensor:
        """One reward per pair, read exactly as RewardTrainer trained it (text + EOS)."""
        texts = [rm_text(q, a) + self.tokenizer.eos_token for q, a in zip(requests, replies)]
        device = next(self.model.parameters()).device
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(texts[i:i + self.batch_size], padding=True, truncation=True,
                                 max_length=RM_MAX_LEN, return_tensors="pt").to(device)
            out.append(self.model(**enc).logits.squeeze(-1).float().cpu())
        return torch.cat(out)

    def __call__(self, prompts, completions, request: list[str], **_) -> list[float]:
        replies = [c[0]["content"] if isinstance(c, list) else c for c in completions]
        return self.score(request, replies).tolist()


@dataclass(frozen=True)
class Sizes:
    """What the lab of lesson 08 runs in one profile (the profile's own fields size batches and replies)."""

    steps: dict[str, int]  # optimizer steps per stage: RL generates before every step and a DPO step reads four
    # sequences per pair (policy and reference), so they get fewer
    dpo_max_len: int  # tokens of a DPO sequence: the prompt and a reply


SIZES = {
    "smoke": Sizes(steps={"sft": 6, "reward": 6, "rl": 2, "dpo": 6}, dpo_max_len=160),
    "cpu": Sizes(steps={"sft": 60, "reward": 60, "rl": 20, "dpo": 30}, dpo_max_len=224),
    "gpu": Sizes(steps={"sft": 200, "reward": 200, "rl": 66, "dpo": 100}, dpo_max_len=320),
}


def dpo_batch_size(profile: Profile) -> int:
    """Preference pairs per DPO step: half the profile's batch (each pair is two sequences), at least 2."""
    return max(2, profile.batch_size // 2)


def trainer_args(config_class, size: Profile, steps: int, lr: float, batch_size: int | None = None, seed: int = 0,
                 **overrides):
    """A TRL config with the profile's sizes: no checkpoints, no reports, a log entry per step, the trainer's own
    progress bar where `course.progress` shows bars (in a notebook, transformers' bar with a table of the losses)."""
    on_gpu = size.device == "cuda"
    return config_class(output_dir=tempfile.mkdtemp(prefix="course-trl-"), max_steps=steps, learning_rate=lr,
                        per_device_train_batch_size=batch_size or size.batch_size, logging_steps=1, save_strategy="no",
                        report_to="none", seed=seed, use_cpu=not on_gpu, bf16=size.precision == "bf16-mixed",
                        fp16=size.precision == "fp16-mixed",
                        disable_tqdm=not progress_enabled(), **overrides)


def quiet(trainer):
    """Drop the callback that prints every log dict when bars are off; the lab plots them from `state.log_history`."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


# ---------------------------------------------------------------- the four stages' trainers, as the lab builds them

REWARD_LR, RLOO_LR, RLOO_BETA, RLOO_GENERATIONS, DPO_LR, DPO_BETA = 1e-4, 1e-3, 0.05, 4, 5e-4, 0.1


def lora_config():
    """The LoRA adapter every policy stage trains: r=8, alpha 16 on q_proj and v_proj, no dropout."""
    from course.lessons.lora import peft_lora_config

    return peft_lora_config(r=8, alpha=16, dropout=0.0)


def sft_trainer(model, tokenizer, rows: list[dict], size: Profile, steps: int):
    """TRL's SFTTrainer on lesson 06's (request, reply) rows, loss on the reply only, at the profile's rate."""
    from trl import SFTConfig, SFTTrainer

    return quiet(SFTTrainer(model=model, processing_class=tokenizer, peft_config=lora_config(),
                            train_dataset=sft_dataset(rows),
                            args=trainer_args(SFTConfig, size, steps, size.lr, max_length=size.max_len)))


def reward_trainer(rows: list[dict], size: Profile, steps: int):
    """TRL's RewardTrainer: MiniLM with a fresh one-logit head, the Bradley-Terry loss on preference pairs."""
    from trl import RewardConfig, RewardTrainer

    model, tokenizer = load_reward_model()
    return quiet(RewardTrainer(model=model, processing_class=tokenizer, train_dataset=reward_dataset(rows),
                               args=trainer_args(RewardConfig, size, steps, REWARD_LR, max_length=RM_MAX_LEN)))


def rloo_trainer(policy, tokenizer, scorer: RewardScorer, rows: list[dict], size: Profile, steps: int,
                 lr: float = RLOO_LR, seed: int = 0):
    """TRL's RLOOTrainer: a fresh LoRA on `policy` (its reference: the adapter off), 4 sampled replies per prompt,
    the reward model's score minus β = 0.05 times the log-ratio to the reference."""
    from trl import RLOOConfig, RLOOTrainer

    torch.manual_seed(seed)  # the adapter's random start
    return quiet(RLOOTrainer(model=policy, reward_funcs=scorer, processing_class=tokenizer, peft_config=lora_config(),
                             train_dataset=prompt_dataset(rows),
                             args=trainer_args(RLOOConfig, size, steps, lr, seed=seed,
                                               num_generations=RLOO_GENERATIONS,
                                               max_completion_length=size.max_new_tokens, beta=RLOO_BETA)))


def dpo_trainer(policy, tokenizer, rows: list[dict], size: Profile, steps: int, lr: float = DPO_LR, seed: int = 0):
    """TRL's DPOTrainer: a fresh LoRA on `policy` (its reference: the adapter off), β = 0.1, half the profile's
    batch in pairs (each pair is two sequences, each read by the policy and the reference)."""
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(seed)
    return quiet(DPOTrainer(model=policy, processing_class=tokenizer, peft_config=lora_config(),
                            train_dataset=dpo_dataset(rows),
                            args=trainer_args(DPOConfig, size, steps, lr, batch_size=max(2, size.batch_size // 2),
                                              seed=seed, beta=DPO_BETA, max_length=size.max_len + 64)))


def logged(trainer, key: str) -> list[float]:
    """One logged metric per step, from the trainer's history."""
    return [h[key] for h in trainer.state.log_history if key in h and "train_runtime" not in h]


def preference_batch(tokenizer, rows: list[dict], max_len: int) -> dict[str, torch.Tensor]:
    """Chosen then rejected replies of `rows`, tokenized after the chat prompt and right-padded.

    Returns input_ids and attention_mask of shape (2 * len(rows), width) (chosen first) and
    prompt_lengths, the number of prompt tokens at the start of each sequence.
    """
    seqs, prompt_lengths = [], []
    for key in ("chosen", "rejected"):
        for r in rows:
            prompt = tokenizer(chat_prompt(tokenizer, r["prompt"]), add_special_tokens=False)["input_ids"]
            reply = tokenizer(r[key] + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
            seqs.append((prompt + reply)[:max_len])
            prompt_lengths.append(min(len(prompt), max_len))
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), tokenizer.pad_token_id)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return {"input_ids": ids, "attention_mask": mask, "prompt_lengths": torch.tensor(prompt_lengths)}


def pair_margins(trainer, rows: list[dict]) -> tuple[torch.Tensor, dict[str, float]]:
    """Each pair's DPO margin as a DPOTrainer measures it, log-ratio(chosen) - log-ratio(rejected) to the reference
    (TRL's `rewards/margins` without beta), and `trainer.evaluate`'s metrics on `rows`.

    TRL logs the mean of each batch only, so the pairs are evaluated one per batch and read as each is recorded.
    """
    from transformers import TrainerCallback

    margins = []

    class Record(TrainerCallback):
        def on_prediction_step(self, args, state, control, **kwargs):
            margins.append(trainer._metrics["eval"]["rewards/margins"][-1] / trainer.beta)

    batch_size, trainer.args.per_device_eval_batch_size = trainer.args.per_device_eval_batch_size, 1
    record = Record()
    trainer.add_callback(record)
    try:
        metrics = trainer.evaluate(dpo_dataset(rows))
    finally:
        trainer.remove_callback(record)
        trainer.args.per_device_eval_batch_size = batch_size
    return torch.tensor(margins), metrics


def dpo_figure(*, margins: torch.Tensor, beta: float, loss: Callable[[torch.Tensor], torch.Tensor]) -> go.Figure:
    """A pair's DPO loss `loss(beta * margin)` and its gradient weight sigmoid(-beta * margin) against the margin, with
    the measured `margins` marked on the loss; the mean loss over them in the title."""
    reach = max(10.0, float(margins.abs().max()) * 1.2)
    grid = torch.linspace(-reach, reach, 201)
    measured = loss(beta * margins)
    fig = go.Figure([go.Scatter(x=grid.tolist(), y=loss(beta * grid).tolist(), mode="lines", name="loss of a pair"),
                     go.Scatter(x=grid.tolist(), y=torch.sigmoid(-beta * grid).tolist(), mode="lines",
                                line_dash="dash", name="its weight in the gradient, σ(−β·margin)"),
                     go.Scatter(x=margins.tolist(), y=measured.tolist(), mode="markers", marker=dict(size=8, opacity=0.6),
                                name=f"the {len(margins)} held-out pairs")])
    fig.update_layout(title=f"β = {beta:g}: mean DPO loss {float(measured.mean()):.3f} on the {len(margins)} held-out pairs "
                            f"(ln 2 = 0.693 without a preference)",
                      xaxis_title="margin: log-ratio(chosen) − log-ratio(rejected)", yaxis_title="loss",
                      height=400, margin=dict(l=40, r=20, t=50, b=40))
    return fig


def shown_labels(tokenizer, input_ids: list[int], labels: list[int]) -> str:
    """The tokens a collator trains on, with masked (-100) positions shown as '·'."""
    return "".join("·" if lab == IGNORE else tokenizer.decode([tok]) for tok, lab in zip(input_ids, labels))


def compare_stages(models: dict, tokenizer, scorer: RewardScorer, rows: list[dict], max_new_tokens: int,
                   baseline: str) -> tuple[list[dict], dict[str, list[str]]]:
    """Each model's greedy replies to `rows`, judged by the reward model.

    Returns one summary row per model (mean reward; win rate against `baseline`'s replies, a tie
    counting half; share of prompts whose reply beats the data's rejected reply; share whose reply
    takes the refund decision the policy requires) and the replies.
    """
    from course.airline import refund_decision

    requests = [r["prompt"] for r in rows]
    replies = {name: [] for name in models}
    for name, q in progress([(name, q) for name in models for q in requests], "greedy replies"):
        replies[name].append(generate_reply(models[name], tokenizer, q, max_new_tokens))
    rewards = {name: scorer.score(requests, texts) for name, texts in replies.items()}
    rejected = scorer.score(requests, [r["rejected"] for r in rows])
    summary = []
    for name, r in rewards.items():
        wins = (r > rewards[baseline]).float() + 0.5 * (r == rewards[baseline]).float()
        summary.append({"model": name, "mean reward": float(r.mean()), f"win rate vs {baseline}": float(wins.mean()),
                        "beats rejected reply": float((r > rejected).float().mean()),
                        "policy accuracy": sum(refund_decision(a) is row["refund"] for a, row in zip(replies[name], rows))
                        / len(rows)})
    return summary, replies
