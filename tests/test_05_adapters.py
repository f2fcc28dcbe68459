"""course.lessons.adapters (lesson 05): AdapterHub's counting rule, the identity at start, where the hooks run, and the
counts the lesson quotes (all-MiniLM-L6-v2 with an 8-intent head; BERT-base and BERT-Large on the meta device)."""

from __future__ import annotations

import copy
import random
import time

import pytest
import torch
import torch.nn.functional as F
from peft import get_peft_model
from transformers import BertConfig, BertForSequenceClassification

from course.lessons.adapters import (LEARNING_RATES, PAPER_BAND, SIZES, WIDGET_MODELS, AdapterConfig, Bottleneck,
                             add_bottleneck_adapters, adapter_modules, encoder_linear_macs, is_head, latency_table,
                             meta_counts, peft_lora_seq_cls_config, share_explorer, share_figure, train_only)
from course.lessons.full_fine_tuning import load_intent_classifier
from course.profiles import PROFILES
from course.training import changed_weights, train, weight_fingerprints

MINILM = 22_716_296  # all-MiniLM-L6-v2 + an 8-intent head
MINILM_HEAD = 384 * 384 + 384 + 384 * 8 + 8  # pooler + classifier = 150,920
MINILM_ADAPTERS_RF16 = 12 * (2 * 384 * 24 + 384 + 24)  # houlsby, m = 384 // 16 = 24: 226,080
MINILM_LORA_R8 = 6 * 2 * 8 * (384 + 384)  # query and value: 73,728
BERT_BASE, BERT_LARGE = 109_482_240, 335_141_888


def tiny_classifier(layers: int = 2, d: int = 32, labels: int = 3) -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(hidden_size=d, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=2 * d,
                        vocab_size=60, num_labels=labels, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(config).eval()


def test_bottleneck_counts_like_adapterhub_and_starts_as_identity():
    random.seed(0)
    for _ in range(10):
        d, factor = random.randint(8, 2048), random.choice([2, 4, 8, 16, 32])
        config = AdapterConfig(random.choice(["houlsby", "pfeiffer"]), factor)
        m = config.bottleneck(d)
        assert m == max(1, d // factor)
        block = Bottleneck(d, m, config.activation_name)
        assert sum(p.numel() for p in block.parameters()) == 2 * d * m + d + m
        h = torch.randn(2, 3, d)
        assert torch.equal(block(h), h)
    assert AdapterConfig("houlsby").per_layer == 2 and AdapterConfig("pfeiffer").per_layer == 1
    assert AdapterConfig("houlsby").activation_name == "swish" and AdapterConfig("pfeiffer").activation_name == "relu"


def test_bottleneck_computes_h_plus_up_act_down():
    torch.manual_seed(0)
    for name, act in [("relu", F.relu), ("swish", F.silu), ("gelu", F.gelu)]:
        block = Bottleneck(20, 5, name)
        with torch.no_grad():
            for p in block.parameters():
                p.normal_(std=0.5)
        h = torch.randn(4, 20)
        down, up = block.adapter_down[0], block.adapter_up
        assert torch.allclose(block(h), h + up(act(down(h))), atol=1e-6), name


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="architecture"):
        AdapterConfig("lora")
    with pytest.raises(ValueError, match="non_linearity"):
        AdapterConfig("houlsby", non_linearity="tanh")
    with pytest.raises(TypeError, match="BERT-family"):
        add_bottleneck_adapters(torch.nn.Linear(3, 3))


@pytest.mark.parametrize("architecture, per_layer", [("houlsby", 2), ("pfeiffer", 1)])
def test_hooks_put_the_adapters_after_the_output_projections(architecture, per_layer):
    model = tiny_classifier(layers=3)
    reference = copy.deepcopy(model)
    ids = torch.randint(0, 60, (2, 9))
    added = add_bottleneck_adapters(model, AdapterConfig(architecture, reduction_factor=4))
    assert len(added) == 3 * per_layer == len(adapter_modules(model))
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, reference(input_ids=ids).logits), "identity at the start"
        for p in (q for a in added for q in a.parameters()):
            p.normal_(std=0.5)
        got = model(input_ids=ids).logits
    # the same adapters placed by module replacement (another mechanism) give the same logits
    it = iter(added)
    for layer in reference.bert.encoder.layer:
        parents = [layer.attention.output, layer.output] if architecture == "houlsby" else [layer.output]
        for parent in parents:
            parent.dense = torch.nn.Sequential(parent.dense, next(it))
    with torch.no_grad():
        want = reference(input_ids=ids).logits
    assert (got - want).abs().max() < 1e-5
    assert not torch.allclose(got, tiny_classifier(layers=3)(input_ids=ids).logits, atol=1e-3), "the adapters act"


def test_training_moves_only_adapters_and_head():
    model = tiny_classifier()
    add_bottleneck_adapters(model, AdapterConfig("houlsby", reduction_factor=8))
    trainable, total = train_only(model, lambda name: "bottleneck_adapter" in name or is_head(name))
    d, labels = 32, 3
    assert trainable == 2 * 2 * (2 * d * 4 + d + 4) + d * d + d + d * labels + labels
    assert total == sum(p.numel() for p in model.parameters())
    before = weight_fingerprints(model)
    batches = [{"input_ids": torch.randint(0, 60, (4, 7)), "labels": torch.randint(0, labels, (4,))} for _ in range(2)]
    train(model, batches, steps=3, lr=1e-2)
    changed = set(changed_weights(model, before))
    assert changed == {n for n, p in model.named_parameters() if p.requires_grad}


def test_minilm_counts_the_lab_quotes():
    model, _ = load_intent_classifier()
    assert sum(p.numel() for p in model.parameters()) == MINILM
    head_only = copy.deepcopy(model)
    assert train_only(head_only, is_head) == (MINILM_HEAD, MINILM) and MINILM_HEAD == 150_920
    adapters = copy.deepcopy(model)
    add_bottleneck_adapters(adapters, AdapterConfig("houlsby", reduction_factor=16))
    trainable, total = train_only(adapters, lambda name: "bottleneck_adapter" in name or is_head(name))
    assert trainable == MINILM_ADAPTERS_RF16 + MINILM_HEAD == 377_000 and total == MINILM + MINILM_ADAPTERS_RF16
    lora = get_peft_model(copy.deepcopy(model), peft_lora_seq_cls_config(r=8, alpha=16))
    assert lora.get_nb_trainable_parameters()[0] == MINILM_LORA_R8 + MINILM_HEAD == 224_648
    trained = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert any("pooler" in n for n in trained) and any("classifier" in n for n in trained)


@pytest.mark.parametrize("layers, d, ffn, base, m, adapters", [
    (12, 768, 3072, BERT_BASE, 64, 2_379_264),  # 2.17%: the figure lesson 05 quotes
    (12, 768, 3072, BERT_BASE, 8, 313_536),
    (24, 1024, 4096, BERT_LARGE, 64, 6_343_680),  # 1.89%
    (24, 1024, 4096, BERT_LARGE, 256, 25_227_264),
])
def test_meta_counts_pin_the_paper_headline(layers, d, ffn, base, m, adapters):
    got = meta_counts(layers, d, ffn, AdapterConfig("houlsby", reduction_factor=d / m), heads=d // 64)
    assert got == (adapters, base)
    assert adapters == layers * 2 * (2 * d * m + d + m)
    assert round(100 * 2_379_264 / BERT_BASE, 2) == 2.17


def test_latency_table_times_every_model():
    model = tiny_classifier()
    batch = {"input_ids": torch.randint(0, 60, (2, 5)), "labels": torch.zeros(2, dtype=torch.long)}
    slow = copy.deepcopy(model)
    slow.register_forward_hook(lambda module, args, output: time.sleep(0.3))
    table = latency_table({"a": model, "slow": slow}, batch, repeats=3, warmup=1)
    assert list(table) == ["a", "slow"] and table["slow"] - table["a"] > 0.15, table  # seconds per pass


def test_lab_sizes_cover_every_profile():
    assert set(SIZES) == set(PROFILES)
    assert list(LEARNING_RATES) == ["head only", "adapters", "LoRA", "full fine-tuning"]
    assert SIZES["smoke"].steps <= SIZES["cpu"].steps <= SIZES["gpu"].steps


def test_encoder_work_per_token():
    """Adapters add 2.08% multiply-adds per token to MiniLM's encoder, unmerged LoRA 0.69%, merged LoRA nothing."""
    model, _ = load_intent_classifier()
    plain = 6 * (4 * 384 * 384 + 2 * 384 * 1536)
    assert encoder_linear_macs(model) == plain == 10_616_832
    adapters = copy.deepcopy(model)
    add_bottleneck_adapters(adapters, AdapterConfig("houlsby", reduction_factor=16))
    assert encoder_linear_macs(adapters) - plain == 12 * 2 * 384 * 24 == 221_184
    lora = get_peft_model(copy.deepcopy(model), peft_lora_seq_cls_config(r=8, alpha=16))
    assert encoder_linear_macs(lora) - plain == 12 * 2 * 384 * 8 == 73_728
    assert encoder_linear_macs(lora.merge_and_unload()) == plain


def _counted(d: int, m: int, n_layers: int, per_layer: int) -> int:
    """The lab's count: parameters of real Bottleneck modules."""
    return n_layers * per_layer * sum(p.numel() for p in Bottleneck(d, m).parameters())


def test_widget_models_are_the_real_base_models():
    assert WIDGET_MODELS["all-MiniLM-L6-v2 (6 x 384)"] == (6, 384, MINILM - (384 * 8 + 8))  # without the intent head
    for name, heads in [("BERT-base (12 x 768)", 12), ("BERT-large (24 x 1024)", 16)]:
        layers, d, base = WIDGET_MODELS[name]
        adapters, counted_base = meta_counts(layers, d, 4 * d, AdapterConfig("houlsby", reduction_factor=16), heads=heads)
        assert base == counted_base and adapters == _counted(d, d // 16, layers, 2), name


def test_share_figure_states_the_lab_share_and_marks_the_papers_band():
    fig = share_figure("BERT-base (12 x 768)", 64, 2, _counted)
    assert fig.layout.title.text == "BERT-base (12 x 768), m = 64, 2 per layer: adapters = 2.17% of the base model"
    assert fig.data[1].y[0] == 100 * _counted(768, 64, 12, 2) / BERT_BASE
    assert (fig.layout.shapes[0].y0, fig.layout.shapes[0].y1) == PAPER_BAND == (0.5, 8.0)
    assert list(fig.data[0].x) == [8, 16, 32, 64, 128, 256]
    other = share_figure("BERT-large (24 x 1024)", 24, 1, _counted)
    assert other.layout.title.text == "BERT-large (24 x 1024), m = 24, 1 per layer: adapters = 0.36% of the base model"
    assert list(other.data[0].x) == [8, 16, 24, 32, 64, 128, 256]
    quoted = {("BERT-large (24 x 1024)", 256): "7.53%", ("all-MiniLM-L6-v2 (6 x 384)", 256): "10.42%",
              ("all-MiniLM-L6-v2 (6 x 384)", 24): "1.00%"}  # the lab's text: the share follows m / d
    for (model, m), share in quoted.items():
        assert share_figure(model, m, 2, _counted).layout.title.text.endswith(f"adapters = {share} of the base model")


def test_share_explorer_has_the_three_controls():
    box = share_explorer(_counted)
    controls = box.children[0].children
    assert [c.description for c in controls] == ["model", "bottleneck m", "adapters per layer"]
    assert controls[1].value == 64 and controls[2].value == 2


# the capstone trains these adapters on SmolLM2, a Llama decoder
def test_adapters_on_a_llama_decoder_start_as_the_identity():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2)).eval()
    ids = torch.randint(0, 64, (2, 7))
    before = model(input_ids=ids).logits
    added = add_bottleneck_adapters(model, AdapterConfig("houlsby", reduction_factor=16))
    trainable, _ = train_only(model, lambda name: "bottleneck_adapter" in name)
    assert len(added) == len(adapter_modules(model)) == 4 and trainable == 4 * (2 * 32 * 2 + 32 + 2)
    assert torch.equal(model(input_ids=ids).logits, before)  # adapter_up starts at zero
    layer = model.model.layers[0]
    assert layer.self_attn.bottleneck_adapter is added[0] and layer.mlp.bottleneck_adapter is added[1]
    with torch.no_grad():
        added[1].adapter_up.bias.fill_(1.0)  # layer 0's feed-forward adapter now adds 1 to down_proj's output
        seen = {}
        layer.mlp.register_forward_hook(lambda module, args, output: seen.update(x=args[0], out=output))
        model(input_ids=ids)
        h = layer.mlp.act_fn(layer.mlp.gate_proj(seen["x"])) * layer.mlp.up_proj(seen["x"])
        assert torch.allclose(seen["out"], torch.nn.functional.linear(h, layer.mlp.down_proj.weight) + 1, atol=1e-5)
