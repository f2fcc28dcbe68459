"""Lesson 09: the airline_kb data set, and course.lessons.rag_vs_fine_tuning's scorers, prompts and search against faiss / torch.

Retrieval figures the lesson quotes (all-MiniLM-L6-v2, mean pooling, exact cosine search) are pinned here.
"""

from __future__ import annotations

import re

import pytest
import torch

from course.data.make_airline_kb import GENERAL, GENERAL_STUDY, OPENER, SIGN_OFF, generate
from course.lessons.rag_vs_fine_tuning import (abstains, faiss_index, faiss_search, fact_batches, few_shot_prompt, gold_rank, hallucinated,
                        hit_rate, load_kb, matches, messages, retrieval_figure, score, sentence_encoder, style_score)

SPLITS = ["documents", "train", "validation", "test", "general_train", "general_test", "general_study"]


def test_generation_depends_on_the_seed():
    assert generate(1)["train"] != generate()["train"]


def test_sizes_and_paraphrases():
    rows = {s: load_kb(s) for s in SPLITS}
    assert {s: len(r) for s, r in rows.items()} == {"documents": 42, "train": 84, "validation": 84, "test": 84,
                                                    "general_train": 48, "general_test": 30,
                                                    "general_study": len(GENERAL_STUDY)}
    assert len(rows["train"]) * 3 >= 200
    for train, val, test in zip(rows["train"], rows["validation"], rows["test"]):
        assert train["fact_id"] == val["fact_id"] == test["fact_id"] and train["answer"] == test["answer"]
        assert len({train["question"], val["question"], test["question"]}) == 3
        subject = re.search(r"What is (.*) at Brightwater Airways\?", train["question"]).group(1)
        assert subject in val["question"] and subject not in test["question"], "test paraphrases the subject"
    assert {r["question"] for r in rows["general_train"]}.isdisjoint(r["question"] for r in rows["general_test"])
    assert len(rows["general_train"]) + len(rows["general_test"]) == len(GENERAL)
    general = [r["question"].lower() for split in ("general_train", "general_test", "general_study")
               for r in rows[split]]
    assert len(set(general)) == len(general) == len(GENERAL) + len(GENERAL_STUDY), "no general question twice"


def test_every_answer_is_in_its_document_and_numbers_are_unique():
    documents = {d["id"]: d["text"] for d in load_kb("documents")}
    numbers = []
    for row in load_kb("train"):
        assert row["answer"] in documents[row["doc_id"]]
        assert row["reply"].startswith(OPENER) and row["reply"].endswith(SIGN_OFF) and row["answer"] in row["reply"]
        assert matches(row["reply"], row["aliases"])
        numbers += [a for a in row["aliases"] if a.isdigit()]
    assert len(numbers) == len(set(numbers)) == 68, "every number belongs to one fact"


@pytest.mark.parametrize("reply, aliases, right", [
    ("The fee for a first checked bag is 87 euros.", ["87"], True),
    ("It costs 187 euros.", ["87"], False),
    ("It costs 8.7 euros, or 87.5 with tax.", ["87"], False),
    ("About 87%.", ["87"], True),
    ("The lounge is called the harbour room.", ["Harbour Room"], True),
    ("The Harbour Rooms are closed.", ["Harbour Room"], False),
    ("The capital is Asunción.", ["Asuncion", "Asunción"], True),
])
def test_matcher(reply, aliases, right):
    assert matches(reply, aliases) is right


@pytest.mark.parametrize("reply, abstained", [
    ("I don't know.", True), ("I’m not sure about that.", True), ("I do not know the answer", True),
    ("The passages do not contain... I cannot answer that.", True), ("The fee is 40 euros.", False),
    ("Brightwater does not charge for bikes.", False),
])
def test_abstention(reply, abstained):
    assert abstains(reply) is abstained
    assert hallucinated(reply, ["95"]) is (not abstained)


def test_style_and_score():
    assert style_score("Happy to help! The fee is 9 euros at Brightwater Airways. Fly bright!") == 1.0
    assert style_score("The fee is 9 euros.") == pytest.approx(1 / 3)
    assert style_score("Happy to help! " + "word " * 40 + "Fly bright!") == pytest.approx(2 / 3)
    rows = [{"aliases": ["9"]}, {"aliases": ["10"]}, {"aliases": ["11"]}, {"aliases": ["12"]}]
    got = score(["It is 9.", "I don't know.", "It is 13.", "Happy to help! 12. Fly bright!"], rows, [10, 20, 30, 40])
    assert got == pytest.approx({"accuracy": 0.5, "hallucination": 0.25, "abstention": 0.25,
                                 "style": (1 + 1 + 1 + 3) / 12, "prompt_tokens": 25})


def test_hit_rate():
    assert hit_rate([[3, 1, 2], [0, 4, 5]], [1, 9], [1, 2, 3]) == {1: 0.0, 2: 0.5, 3: 0.5}


def test_gold_rank_agrees_with_the_ranking_and_the_figure_states_k_and_hit_rate():
    torch.manual_seed(0)
    scores, gold = torch.randn(20, 12), [i % 12 for i in range(20)]
    ranked = scores.topk(12).indices.tolist()
    ranks = [gold_rank(row, g) for row, g in zip(scores, gold)]
    assert ranks == [r.index(g) + 1 for r, g in zip(ranked, gold)]
    curve = hit_rate(ranked, gold, list(range(1, 11)))
    assert all(curve[k] == sum(r <= k for r in ranks) / len(ranks) for k in curve)
    args = dict(curve=curve, scores=scores, gold=gold, titles=[f"doc {i}" for i in range(12)], question=4)
    fig = retrieval_figure(k=3, **args)
    assert fig.layout.title.text.startswith(f"k = 3: hit@3 = {curve[3]:.3f} on 20 test questions; question 4: "
                                            f"its source document ranks {ranks[4]}")
    bars = fig.data[-1]
    assert list(bars.y)[::-1] == [f"doc {i} ({i})" for i in ranked[4][:3]]
    assert list(bars.x)[::-1] == pytest.approx(scores[4].topk(3).values.tolist())
    assert fig.layout.title.text != retrieval_figure(k=5, **args).layout.title.text


def test_few_shot_prompt():
    shots = [{"question": "A?", "answer": "a"}, {"question": "B?", "answer": "b"}]
    assert few_shot_prompt(shots, "C?") == "Q: A?\nA: a\n\nQ: B?\nA: b\n\nQ: C?\nA:"


@pytest.fixture(scope="module")
def encode():
    """Unit-length MiniLM sentence embeddings from sentence-transformers, as the lab computes them."""
    model = sentence_encoder(device="cpu")
    return lambda texts: model.encode(texts, normalize_embeddings=True, convert_to_tensor=True).cpu()


def test_sentence_encoder_loads_offline_and_faiss_equals_torch(encode):
    vectors = encode(["a short one", "a much longer sentence about checked bags and their fees"])
    assert tuple(vectors.shape) == (2, 384) and torch.allclose(vectors.norm(dim=-1), torch.ones(2), atol=1e-5)
    docs = encode([d["text"] for d in load_kb("documents")])
    queries = encode([r["question"] for r in load_kb("test")])
    _, ids = faiss_search(faiss_index(docs), queries, 5)
    expected = torch.topk(queries @ docs.T, 5).indices
    assert (torch.tensor(ids) == expected).float().mean() >= 0.99


def test_retrieval_figures_the_lesson_quotes(encode):
    documents = load_kb("documents")
    position = {d["id"]: i for i, d in enumerate(documents)}
    docs = encode([d["text"] for d in documents])
    quoted = {"test": {1: 0.833, 2: 0.952, 5: 0.976}, "validation": {1: 0.988, 2: 1.0, 5: 1.0}}
    for split, figures in quoted.items():
        rows = load_kb(split)
        _, ids = faiss_search(faiss_index(docs), encode([r["question"] for r in rows]), 10)
        got = hit_rate(ids.tolist(), [position[r["doc_id"]] for r in rows], list(figures))
        assert {k: round(v, 3) for k, v in got.items()} == figures, (split, got)


def test_messages_and_fact_batches_mask_the_prompt():
    from transformers import AutoTokenizer

    from course.models import causal_lm_path

    tokenizer = AutoTokenizer.from_pretrained(causal_lm_path("smollm2-135m-instruct"))
    chat = messages("Q?", ["fact one", "fact two"])
    assert chat[0]["role"] == "system" and chat[0]["content"].endswith("fact one\nfact two") and chat[1] == {
        "role": "user", "content": "Q?"}
    assert messages("Q?")[0]["content"] == messages("Q?", [])[0]["content"]
    rows = load_kb("train")[:3]
    batch = fact_batches(tokenizer, rows, batch_size=3, max_len=512, seed=0)[0]
    for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist()):
        kept = [i for i, label in zip(ids, labels) if label != -100]
        text = tokenizer.decode(kept)
        assert text.startswith(OPENER) and text.endswith(tokenizer.eos_token)
        n_prompt = labels.index(next(label for label in labels if label != -100))
        assert tokenizer.decode(ids[:n_prompt]).endswith("<|im_start|>assistant\n")
    assert tokenizer.apply_chat_template(messages("Q?"), tokenize=False).count("<|im_start|>") == 2  # system, user
