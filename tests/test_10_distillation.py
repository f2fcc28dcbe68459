"""course.lessons.distillation against transformers and TRL, and the counts lesson 10 quotes (SmolLM2-135M)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from course.lessons.distillation import (SIZES, compare_to_teacher, distill, freeze_embeddings, keep_layers,
                                 logits_at_replies, model_megabytes, seconds_per_token, softened, softened_figure,
                                 student_from_teacher, teacher_logits, temperature_slider)
from course.models import causal_lm_path
from course.training import IGNORE, changed_weights, eval_loss, weight_fingerprints

SMOL_PARAMS = 134_515_008  # SmolLM2-135M: 30 layers of 3,540,096 + 28,311,552 tied embeddings + 576 final norm
SMOL_6_LAYER_STUDENT = 49_552_704  # 6 layers + embeddings + final norm = SMOL_PARAMS - 24 x 3,540,096
SMOL_6_LAYER_TRAINABLE = 21_241_152  # embeddings frozen: 6 x 3,540,096 + 576
TINY = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=6, num_attention_heads=4,
                   num_key_value_heads=2, vocab_size=50, tie_word_embeddings=True)


def tiny_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, TINY.vocab_size, (3, 12), generator=g)
    labels = ids.clone()
    labels[:, :5] = IGNORE  # the prompt
    labels[2, 9:] = IGNORE  # padding
    mask = torch.ones_like(ids)
    mask[2, 9:] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@pytest.fixture
def tiny_teacher():
    torch.manual_seed(0)
    return LlamaForCausalLM(TINY).eval()


def test_keep_layers_takes_the_ends():
    assert keep_layers(30, 6) == [0, 1, 2, 27, 28, 29]
    assert keep_layers(30, 4) == [0, 1, 28, 29]
    assert keep_layers(30, 5) == [0, 1, 2, 28, 29]
    assert keep_layers(6, 6) == list(range(6)) and keep_layers(30, 1) == [0]
    with pytest.raises(ValueError, match="between 1 and 30"):
        keep_layers(30, 31)


def test_student_with_every_layer_is_the_teacher(tiny_teacher):
    batch = tiny_batch()
    same = student_from_teacher(tiny_teacher, list(range(TINY.num_hidden_layers)))
    kwargs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    assert torch.allclose(same(**kwargs).logits, tiny_teacher(**kwargs).logits, atol=1e-6)
    assert same is not tiny_teacher and same.model.layers[0].self_attn.q_proj.weight is not \
        tiny_teacher.model.layers[0].self_attn.q_proj.weight, "a copy, not shared weights"


def test_student_copies_the_kept_layers(tiny_teacher):
    student = student_from_teacher(tiny_teacher, [0, 4, 5])
    assert student.config.num_hidden_layers == 3 and tiny_teacher.config.num_hidden_layers == 6
    for new, old in enumerate([0, 4, 5]):
        for (name, p), (_, q) in zip(student.model.layers[new].named_parameters(),
                                     tiny_teacher.model.layers[old].named_parameters(), strict=True):
            assert torch.equal(p, q), (new, old, name)
    assert torch.equal(student.model.embed_tokens.weight, tiny_teacher.model.embed_tokens.weight)
    assert student.lm_head.weight is student.model.embed_tokens.weight, "still tied"
    assert [layer.self_attn.layer_idx for layer in student.model.layers] == [0, 1, 2], "cache slots renumbered"


def test_logits_at_replies_are_the_models_at_the_shifted_labels(tiny_teacher):
    batch = tiny_batch()
    logits, labels = logits_at_replies(tiny_teacher, batch)
    full = tiny_teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    keep = batch["labels"][:, 1:] != IGNORE
    assert logits.shape == (int(keep.sum()), TINY.vocab_size) == (2 * 7 + 4, TINY.vocab_size)  # labels 5..11 kept, row 2 padded from 9
    assert torch.allclose(logits, full[:, :-1][keep], atol=1e-5)
    assert torch.equal(labels, batch["labels"][:, 1:][keep])


def test_compare_to_teacher_matches_transformers_loss_and_trl_kl(tiny_teacher):
    batches = [tiny_batch(0), tiny_batch(1)]
    exact = teacher_logits(tiny_teacher, batches, torch.float32)
    own = compare_to_teacher(tiny_teacher, batches, exact)
    assert own["agreement"] == 1.0 and abs(own["kl"]) < 1e-6
    assert abs(own["loss"] - eval_loss(tiny_teacher, batches)) < 1e-5, "the same per-token mean as transformers' loss"
    student = student_from_teacher(tiny_teacher, [0, 5])
    got = compare_to_teacher(student, batches, exact)
    s = torch.cat([logits_at_replies(student, b)[0] for b in batches]).detach().double()
    t = torch.cat(exact).double()
    kl = (F.softmax(t, -1) * (F.log_softmax(t, -1) - F.log_softmax(s, -1))).sum(-1).mean()
    assert abs(got["kl"] - float(kl)) < 1e-5, "forward KL(teacher || student), mean per position"
    assert got["agreement"] == float((s.argmax(-1) == t.argmax(-1)).double().mean())
    half = teacher_logits(tiny_teacher, batches)
    assert half[0].dtype == torch.float16 and (half[0].float() - exact[0]).abs().max() < 1e-2


def test_distill_trains_the_layers_not_the_embeddings(tiny_teacher):
    batches = [tiny_batch(0), tiny_batch(1)]
    targets = [t * 100 for t in teacher_logits(tiny_teacher, batches)]  # sharper than the tiny model's near-uniform
    student = student_from_teacher(tiny_teacher, [0, 5])
    n = freeze_embeddings(student)
    assert n == sum(p.numel() for p in student.parameters()) - TINY.vocab_size * TINY.hidden_size
    before = weight_fingerprints(student)
    seen = []

    def loss_fn(s, t, y):
        seen.append((s.shape, t.dtype, y.shape))
        return F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction="batchmean")

    losses = distill(student, batches, targets, steps=30, lr=5e-2, loss_fn=loss_fn)
    assert len(losses) == 30 and losses[-1] < 0.95 * losses[0], losses
    changed = changed_weights(student, before)
    assert "model.embed_tokens.weight" not in changed and any("layers.1.mlp" in n for n in changed)
    assert seen[0] == (torch.Size([18, TINY.vocab_size]), torch.float32, torch.Size([18])), "float16 cache read as float32"
    with pytest.raises(ValueError, match="2 batches but teacher logits for 1"):
        distill(student, batches, targets[:1], 1, 1e-3, loss_fn)


def test_smollm2_counts_the_lesson_quotes():
    config = AutoConfig.from_pretrained(causal_lm_path("smollm2-135m-instruct"))
    with torch.device("meta"):
        teacher = AutoModelForCausalLM.from_config(config)
    assert sum(p.numel() for p in teacher.parameters()) == SMOL_PARAMS
    config.num_hidden_layers = 6
    with torch.device("meta"):
        student = AutoModelForCausalLM.from_config(config)
    assert sum(p.numel() for p in student.parameters()) == SMOL_6_LAYER_STUDENT
    assert freeze_embeddings(student) == SMOL_6_LAYER_TRAINABLE
    assert abs(model_megabytes(student) - SMOL_6_LAYER_STUDENT * 4 / 1e6) < 1e-6


def test_latency_and_slider(tiny_teacher):
    class Tok:
        eos_token_id = 0

        def __call__(self, text, add_special_tokens=False, return_tensors="pt"):
            return {"input_ids": torch.tensor([[1, 2, 3]])}

    assert seconds_per_token(tiny_teacher, Tok(), "x", new_tokens=4, repeats=2) > 0
    fig = temperature_slider(torch.tensor([3.0, 1.0, 0.0]), ["a", "b", "c"], lambda z, t: torch.softmax(z / t, -1), (1.0, 4.0))
    assert len(fig.layout.sliders[0].steps) == 2
    assert abs(fig.data[0].y[0] - float(torch.softmax(torch.tensor([3.0, 1.0, 0.0]), -1)[0])) < 1e-6


def test_softened_is_the_top_tokens_the_rest_and_the_entropy():
    torch.manual_seed(0)
    logits = torch.randn(100) * 3
    probs, entropy = softened(logits, 2.0, top=5)
    p = torch.softmax(logits / 2, -1)
    assert torch.allclose(probs[:5], p.topk(5).values) and float(probs[5]) == pytest.approx(1 - float(p.topk(5).values.sum()))
    assert entropy == pytest.approx(float(-(p * p.log()).sum()), rel=1e-5)
    assert softened(logits, 0.5)[1] < softened(logits, 1.0)[1] < entropy, "entropy grows with T"
    fig = softened_figure(logits=logits, labels=list("abcde"), temperature=2.0)
    assert fig.layout.title.text.startswith(f"T = 2: entropy {entropy:.2f} nats (T = 1: {softened(logits, 1.0)[1]:.2f})")
    assert list(fig.data[0].x) == [*"abcde", "the other 95"]
    assert list(fig.data[0].y) == pytest.approx(softened(logits, 1.0, top=5)[0].tolist())
    assert list(fig.data[1].y) == pytest.approx(probs.tolist())
    assert softened_figure(logits=logits, labels=list("abcde"), temperature=4.0).layout.title.text.startswith("T = 4:")


def test_profile_sizes():
    smoke, cpu = SIZES["smoke"], SIZES["cpu"]
    assert smoke.student_steps <= cpu.student_steps and smoke.n_train <= cpu.n_train
    assert cpu.student_layers < 30
