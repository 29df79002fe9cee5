"""What a run may be handed in memory instead of by name (the Python API): the subject model, the SAE, the corpus.

The config still names each one (``memory:<what>@<fingerprint>``), so the params hashes that key the stored
results change when the object does, and a re-run with the same objects resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from autointerp.activations.corpus import Document
from autointerp.activations.models import SubjectModel
from autointerp.activations.sae import Dictionary


@dataclass(frozen=True)
class RunInputs:
    """In-memory inputs of one run; None: read the config's name or path as the CLI does."""

    subject: SubjectModel | None = None  # a loaded transformers model and its tokenizer
    sae: Dictionary | None = None  # the dictionary whose features are scored
    documents: Callable[[], Iterable[Document]] | None = None  # a fresh pass over the corpus on every call
