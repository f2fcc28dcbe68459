"""Lesson 09 helpers: the Brightwater knowledge base, the MiniLM sentence encoder, a faiss index, and the scorers.

The lab compares four systems on held-out questions: the base model, RAG (retrieved passages in the
prompt), LoRA fine-tuned on the facts, and RAG on the fine-tuned model. A reply is *correct* when it
contains the gold answer (`matches`), an *abstention* when it says it does not know (`abstains`),
and a *hallucination* when it is neither: a confident wrong answer. The house style of the airline
(open with "Happy to help!", close with "Fly bright!", stay short) is scored by `style_score`.
The graded exercise's functions (chunking, embedding, cosine top-k, recall@k, the RAG prompt, the known /
unknown categories) are not here: the lab embeds with sentence-transformers and searches with faiss and `torch.topk`.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from course.data import load_split
from course.data.make_airline_kb import AIRLINE, OPENER, SIGN_OFF
from course.lessons.soft_prompting import count_tokens, generate_replies
from course.training import IGNORE, collate


@dataclass(frozen=True)
class Sizes:
    """What the lab of lesson 09 runs in one profile: held-out questions, LoRA steps, the known / unknown probe."""

    n_eval: int  # held-out paraphrased questions
    max_new_tokens: int  # per answer
    lora_steps: int  # LoRA steps on the facts
    probe_general: int  # general questions probed for known / unknown
    probe_airline: int  # airline questions probed (all unknown to the base model)
    variants: int  # prompt wordings of the greedy probe
    samples: int  # sampled answers per question
    gk_steps: int  # LoRA steps of each known / unknown fine-tuning
    gk_eval: int  # held-out general questions it is evaluated on


SIZES = {
    "smoke": Sizes(n_eval=6, max_new_tokens=24, lora_steps=8, probe_general=8, probe_airline=2, variants=2, samples=1,
                   gk_steps=2, gk_eval=4),
    "cpu": Sizes(n_eval=24, max_new_tokens=32, lora_steps=20, probe_general=48, probe_airline=12, variants=2, samples=2,
                 gk_steps=10, gk_eval=30),
    "gpu": Sizes(n_eval=84, max_new_tokens=32, lora_steps=200, probe_general=48, probe_airline=84, variants=3,
                 samples=8, gk_steps=100, gk_eval=30),
}

KB = "airline_kb"
ENCODER = "all-minilm-l6-v2"
MAX_STYLE_WORDS = 30
INSTRUCTION = (f"You answer customers' questions about {AIRLINE} in one short sentence. "
               "If you do not know the answer, say \"I don't know\".")
GENERAL_INSTRUCTION = "Answer the question in a few words. If you do not know the answer, say \"I don't know\"."
_ABSTAIN = re.compile(r"\b(i don'?t know|i do not know|not sure|no information|don'?t have (that|this|any|the) "
                      r"information|cannot (find|answer|provide)|can'?t (find|answer|provide)|unable to (find|answer|provide)|"
                      r"not (mentioned|provided|specified|stated) in)")


def load_kb(split: str) -> list[dict]:
    """Rows of the bundled knowledge base: "documents", "train" / "validation" / "test", "general_train" / "general_test" /
    "general_study"."""
    return load_split(KB, split)


def sentence_encoder(name: str = ENCODER, device: str | None = None):
    """The sentence-transformers model of `name` (all-MiniLM-L6-v2) from the course's offline copy; on the GPU when there is one."""
    from sentence_transformers import SentenceTransformer

    from course.models import encoder_source

    return SentenceTransformer(str(encoder_source(name)), device=device)


def faiss_index(doc_vectors: torch.Tensor):
    """A faiss IndexFlatIP over the L2-normalised vectors: inner product = cosine similarity, exact search."""
    import faiss

    matrix = np.ascontiguousarray(doc_vectors.detach().float().numpy())
    faiss.normalize_L2(matrix)  # in place, on our copy
    index = faiss.IndexFlatIP(matrix.shape[1])
    index.add(matrix)
    return index


def faiss_search(index, query_vectors: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(cosine scores, document ids), each (n_queries, k), best first."""
    import faiss

    matrix = np.ascontiguousarray(query_vectors.detach().float().numpy())
    faiss.normalize_L2(matrix)
    return index.search(matrix, k)


def seconds_per_query(search, queries, repeats: int = 5) -> float:
    """Median wall time of `search(queries)` over `repeats` runs, divided by the number of queries."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        search(queries)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / len(queries)


def hit_rate(ranked: list[list[int]], gold: list[int], ks: list[int]) -> dict[int, float]:
    """For each k: share of questions whose one source document is among the first k ranked ids."""
    return {k: sum(g in r[:k] for r, g in zip(ranked, gold)) / len(gold) for k in ks}


def gold_rank(scores: torch.Tensor, gold: int) -> int:
    """Rank (1 = first) of document `gold` when documents are sorted by `scores`, one question's row; ties in its favour."""
    return int((scores > scores[gold]).sum()) + 1


def retrieval_figure(*, curve: dict[int, float], scores: torch.Tensor, gold: list[int], titles: list[str], k: int,
                     question: int) -> go.Figure:
    """Hit rate at each k (`curve`, marked at `k`) beside the top k documents for one question, its source in green."""
    row = scores[question]
    top = row.topk(k)
    ids = top.indices.tolist()[::-1]  # best at the top of the bars
    rank = gold_rank(row, gold[question])
    fig = make_subplots(rows=1, cols=2, column_widths=[0.4, 0.6],
                        subplot_titles=("hit rate at k (test questions)", f"the top {k} documents for question {question}"))
    fig.add_scatter(x=list(curve), y=list(curve.values()), mode="lines+markers", name="hit@k", row=1, col=1)
    fig.add_scatter(x=[k], y=[curve[k]], mode="markers", marker_size=14, name=f"k = {k}", row=1, col=1)
    fig.add_bar(x=[float(row[i]) for i in ids], y=[f"{titles[i]} ({i})" for i in ids], orientation="h", name="cosine",
                marker_color=["seagreen" if i == gold[question] else "lightgray" for i in ids], row=1, col=2)
    found = f"its source document ranks {rank}" + ("" if rank <= k else f", outside the top {k}")
    fig.update_layout(title=f"k = {k}: hit@{k} = {curve[k]:.3f} on {len(gold)} test questions; question {question}: {found}",
                      showlegend=False, height=max(360, 120 + 28 * k), margin=dict(l=40, r=20, t=80, b=40))
    fig.update_xaxes(title_text="k", row=1, col=1)
    fig.update_xaxes(title_text="cosine similarity", row=1, col=2)
    fig.update_yaxes(range=[0, 1.02], row=1, col=1)
    return fig


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s.%-]", " ", text.lower()).split())


def matches(reply: str, aliases: list[str]) -> bool:
    """Whether `reply` contains one of the gold `aliases` as whole words (case-insensitive; a number not inside another)."""
    text = _normal(reply)
    for alias in aliases:
        pattern = r"(?<![\w.])" + re.escape(_normal(alias)) + r"(?![\w]|\.\d)"
        if re.search(pattern, text):
            return True
    return False


def abstains(reply: str) -> bool:
    """Whether `reply` declines to answer ("I don't know", "the passages do not mention ...")."""
    return bool(_ABSTAIN.search(reply.lower().replace("\u2019", "'")))


def hallucinated(reply: str, aliases: list[str]) -> bool:
    """A confident wrong answer: it neither contains the gold answer nor abstains."""
    return not matches(reply, aliases) and not abstains(reply)


def style_score(reply: str) -> float:
    """The airline's house style, 0..1: mean of (opens with the opener, ends with the sign-off, at most 30 words)."""
    text = reply.strip()
    return (text.startswith(OPENER) + text.endswith(SIGN_OFF) + (len(text.split()) <= MAX_STYLE_WORDS)) / 3


def messages(question: str, passages: list[str] | None = None, instruction: str = INSTRUCTION) -> list[dict]:
    """What every system gets: a system message (the instruction, plus the retrieved facts for RAG) and the question."""
    system = instruction if not passages else instruction + "\n\nFacts from the handbook:\n" + "\n".join(passages)
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def fact_batches(tokenizer, rows: list[dict], batch_size: int, max_len: int, seed: int = 0,
                 instruction: str = INSTRUCTION) -> list[dict[str, torch.Tensor]]:
    """Fine-tuning batches: the closed-book prompt of each question (masked with -100), then its gold reply."""
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    encoded = []
    for r in rows:
        chat = messages(r["question"], instruction=instruction)
        prompt = tokenizer.apply_chat_template(chat, add_generation_prompt=True)["input_ids"]
        reply = tokenizer(r["reply"] + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        encoded.append({"input_ids": (prompt + reply)[:max_len], "labels": ([IGNORE] * len(prompt) + reply)[:max_len]})
    return [collate(encoded[i:i + batch_size], tokenizer.pad_token_id) for i in range(0, len(encoded), batch_size)]


def answer(model, tokenizer, chats: list[list[dict]], max_new_tokens: int, batch_size: int = 8) -> tuple[list[str], list[int]]:
    """Greedy replies to chats (see `messages`), and the prompt tokens each one cost (the chat template included)."""
    prompts = [tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) for chat in chats]
    replies = generate_replies(model, tokenizer, prompts, max_new_tokens, batch_size=batch_size)
    return replies, [count_tokens(tokenizer, p) for p in prompts]


def score(replies: list[str], rows: list[dict], prompt_tokens: list[int]) -> dict[str, float]:
    """Accuracy, hallucination rate, abstention rate, mean style score and mean prompt tokens per query."""
    n = len(rows)
    right = [matches(reply, r["aliases"]) for reply, r in zip(replies, rows)]
    abstained = [abstains(reply) and not ok for reply, ok in zip(replies, right)]
    return {"accuracy": sum(right) / n,
            "hallucination": sum(not ok and not a for ok, a in zip(right, abstained)) / n,
            "abstention": sum(abstained) / n,
            "style": sum(style_score(reply) for reply in replies) / n,
            "prompt_tokens": sum(prompt_tokens) / n}


def few_shot_prompt(examples: list[dict], question: str) -> str:
    """A plain-text few-shot prompt ("Q: ... / A: ..." pairs, then the question) for the known / unknown probe."""
    shots = "".join(f"Q: {e['question']}\nA: {e['answer']}\n\n" for e in examples)
    return f"{shots}Q: {question}\nA:"


@torch.no_grad()
def complete(model, tokenizer, prompts: list[str], max_new_tokens: int, temperature: float = 0.0,
             batch_size: int = 16, seed: int = 0) -> list[str]:
    """The first line of each continuation of plain-text prompts: greedy when temperature is 0, sampled otherwise."""
    torch.manual_seed(seed)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    out = []
    try:
        for i in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[i:i + batch_size], padding=True, return_tensors="pt")
            sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature > 0 \
                else {"do_sample": False}
            ids = model.generate(**batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling)
            texts = tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
            out += [t.strip().split("\n")[0].strip() for t in texts]
    finally:
        tokenizer.padding_side = side
    return out
