"""What the prompt-tuning lesson needs besides its exercise answers: peft's setup, persona scoring, token lookup,
and the explorer of the vocabulary tokens nearest to each trained virtual token.

The graded pieces (`SoftPrompt`, `prompt_tuning_param_count`, `extend_attention_mask`) are written by
the student; the lab uses peft's `PromptTuningConfig` instead.
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from course.lessons.persona import grumpy_rate
from course.progress import progress
from course.training import greedy_tokens

# the source material's system prompt: what prompt tuning learns to replace with trained vectors
GRUMPY_SYSTEM_PROMPT = "You are a grumpy and unhelpful AI assistant."
# prompt tuning moves a few input vectors only: it needs a far larger step than LoRA or full fine-tuning
LEARNING_RATE = 3e-2
N_VIRTUAL_TOKENS = 11  # as many as GRUMPY_SYSTEM_PROMPT has tokens in SmolLM2's tokenizer


def peft_prompt_tuning_config(n_virtual_tokens: int, init_text: str | None = None,
                              tokenizer_path: str | None = None):
    """peft's PromptTuningConfig for a causal LM: initialised from `init_text`'s token embeddings, else randomly."""
    from peft import PromptTuningConfig, PromptTuningInit

    if init_text is None:
        return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n_virtual_tokens,
                                  prompt_tuning_init=PromptTuningInit.RANDOM)
    return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n_virtual_tokens,
                              prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=init_text,
                              tokenizer_name_or_path=str(tokenizer_path))


def prompt_vectors(peft_model) -> torch.Tensor:
    """The trained virtual-token vectors of a peft prompt-tuning model, shape (n_virtual_tokens, dim)."""
    return peft_model.prompt_encoder[peft_model.active_adapter].embedding.weight.detach().clone()


@torch.no_grad()
def generate_persona_reply(model, tokenizer, request: str, max_new_tokens: int = 64, system: str | None = None) -> str:
    """The greedy answer to `request`, under the template's default system prompt or `system`, for a plain or peft model."""
    messages = ([{"role": "system", "content": system}] if system is not None else []) + [{"role": "user", "content": request}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)
    return tokenizer.decode(greedy_tokens(model, ids, max_new_tokens, tokenizer.eos_token_id),
                            skip_special_tokens=True).strip()


def persona_replies(model, tokenizer, rows: list[dict], max_new_tokens: int,
                    system: str | None = None) -> tuple[float, list[str]]:
    """(grumpy rate, greedy replies) on `rows`' requests, with the template's default system prompt or `system`."""
    replies = [generate_persona_reply(model, tokenizer, r["request"], max_new_tokens, system)
               for r in progress(rows, "persona replies")]
    return grumpy_rate(replies), replies


def nearest_tokens(vectors: torch.Tensor, embeddings: torch.Tensor, tokenizer, k: int = 3) -> list[list[tuple[str, float]]]:
    """For each vector, the k vocabulary tokens whose input embeddings are closest in cosine similarity."""
    sims = torch.nn.functional.normalize(vectors.float(), dim=-1) @ torch.nn.functional.normalize(embeddings.float(), dim=-1).T
    top = sims.topk(k, dim=-1)
    return [[(tokenizer.convert_ids_to_tokens(int(i)), float(s)) for s, i in zip(row_s, row_i)]
            for row_s, row_i in zip(top.values, top.indices)]


def token_strings(tokenizer, text: str) -> list[str]:
    """The tokens of `text` as the tokenizer writes them (Ġ marks a leading space)."""
    return tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])


def nearest_figure(index: int, near: dict[str, list[list[tuple[str, float]]]], start_tokens: list[str]) -> go.Figure:
    """The tokens nearest to virtual token `index`, one panel per run (run name -> `nearest_tokens` rows)."""
    fig = make_subplots(rows=1, cols=len(near), subplot_titles=list(near), horizontal_spacing=0.15)
    for col, rows in enumerate(near.values(), start=1):
        tokens, sims = zip(*rows[index])
        fig.add_bar(x=sims, y=[repr(t) for t in tokens], orientation="h", text=[f"{s:.2f}" for s in sims],
                    showlegend=False, row=1, col=col)
    fig.update_xaxes(range=[0, 1], title_text="cosine similarity")
    fig.update_yaxes(autorange="reversed")
    best = "; ".join(f"{name} {rows[index][0][0]!r} {rows[index][0][1]:.2f}" for name, rows in near.items())
    start = start_tokens[index % len(start_tokens)]  # peft repeats a shorter init text
    fig.update_layout(height=380, title=f"virtual token {index} (text init: {start!r}), nearest now: {best}")
    return fig
