"""Local embedding models on ONNX Runtime: a sentence model for text, a CLIP model for pictures.

Why onnxruntime and tokenizers directly rather than fastembed: fastembed resolves models
through its own registry and fetches them from a hub when a model is first built, while alice
must load a plain folder offline (`embeddings.model_dir`), fetch only when the user asks
(`alice models pull`), and run CLIP towers that the tests build themselves. fastembed would
wrap these same two libraries; neither pulls in PyTorch.

A text model folder holds `model.onnx` (a BERT-style encoder: input_ids, attention_mask,
optional token_type_ids -> token states, mean-pooled here, or a pooled vector) and
`tokenizer.json`. An image model folder holds `image.onnx` (pixel_values -> image embedding),
`text.onnx` (input_ids[, attention_mask] -> text embedding in the same space),
`tokenizer.json`, and optionally `preprocess.json` ({"size", "mean", "std"}).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from alice_mcp.errors import AliceError, NotFound

CLIP_SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
MAX_TOKENS = 256


class ModelMissing(NotFound):
    """An embedding model is not on this machine; the message gives both ways to get it."""


class ModelBroken(AliceError):
    """A model folder exists but cannot be loaded or run; the message names the file."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model alice knows how to fetch: where each of its files lives on the model hub."""

    name: str
    space: str  # text | image
    files: dict[str, str]  # file in the model folder -> "<org>/<repo>/<path in the repo>"
    size_mb: int  # about, for the message before a download
    licence: str = ""


KNOWN: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("all-MiniLM-L6-v2", "text", {
        "model.onnx": "sentence-transformers/all-MiniLM-L6-v2/onnx/model.onnx",
        "tokenizer.json": "sentence-transformers/all-MiniLM-L6-v2/tokenizer.json"},
        size_mb=91, licence="Apache-2.0"),
    ModelSpec("clip-ViT-B-32", "image", {
        "image.onnx": "Qdrant/clip-ViT-B-32-vision/model.onnx",
        "text.onnx": "Qdrant/clip-ViT-B-32-text/model.onnx",
        "tokenizer.json": "Qdrant/clip-ViT-B-32-text/tokenizer.json"},
        size_mb=605, licence="MIT"),
)}
REQUIRED = {"text": ("model.onnx", "tokenizer.json"),
            "image": ("image.onnx", "text.onnx", "tokenizer.json")}


def model_folder(models_dir: Path, name: str) -> Path:
    """Where a model's files are (or will be) kept."""
    return models_dir / name


def is_present(models_dir: Path, name: str, space: str) -> bool:
    folder = model_folder(models_dir, name)
    return all((folder / f).is_file() for f in REQUIRED[space])


def missing_message(models_dir: Path, name: str, space: str) -> str:
    """What to do when a model is absent: pull it once, or point the setting at a folder."""
    folder = model_folder(models_dir, name)
    spec = KNOWN.get(name)
    pull = (f"run `alice models pull` once (downloads about {spec.size_mb} MB; needs internet)"
            if spec else f"{name!r} is not a model alice can download: copy it yourself")
    return (f"the {space} embedding model {name!r} is not on this machine (looked in "
            f"{folder}). To get it: {pull}; or, without internet, copy a folder holding "
            f"{', '.join(REQUIRED[space])} to {folder}, or set embeddings.model_dir to the "
            "folder that holds it")


def _runtime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ModelMissing("semantic search needs ONNX Runtime: install the embeddings extra "
                           "(pip install 'alice-mcp[embeddings]')") from None
    return onnxruntime


def _session(path: Path) -> Any:
    ort = _runtime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # ONNX Runtime's threads spin for a while after each run by default: on two cores that
    # took the CPU from the vector search and DuckDB lookups right after a query's encoding
    # (search by meaning on 100,000 assets: 68 ms with spinning, see BENCHMARKS.md without)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelBroken(f"cannot load {path}: {exc}; delete the folder and run "
                          "`alice models pull` again") from None


def _tokenizer(path: Path, length: int | None) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ModelMissing("semantic search needs the tokenizers package: install the "
                           "embeddings extra (pip install 'alice-mcp[embeddings]')") from None
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise ModelBroken(f"cannot read {path}: {exc}") from None
    tok.enable_truncation(max_length=length or MAX_TOKENS)
    tok.enable_padding(length=length, pad_id=_pad_id(tok))
    return tok


def _pad_id(tok: Any) -> int:
    padding = tok.padding or {}
    if "pad_id" in padding:
        return int(padding["pad_id"])
    for token in ("[PAD]", "<pad>", "<|endoftext|>"):
        found = tok.token_to_id(token)
        if found is not None:
            return int(found)
    return 0


def _unit(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (cosine similarity is then a dot product)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass
class _Tower:
    """One ONNX encoder of token ids: feeds the inputs it declares, pools what it returns."""

    session: Any
    tokenizer: Any
    names: tuple[str, ...] = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.names = tuple(i.name for i in self.session.get_inputs())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch([t or " " for t in texts])
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask,
                 "token_type_ids": np.zeros_like(ids)}
        with self.lock:  # one run at a time: a session's own threads use the cores
            out = self.session.run(None, {n: feeds[n] for n in self.names if n in feeds})[0]
        if out.ndim == 3:  # token states: the mean over real tokens
            weights = mask[..., None].astype(np.float32)
            out = (out * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return _unit(np.asarray(out, dtype=np.float32))


class TextModel:
    """A sentence-embedding model: texts -> unit vectors."""

    space = "text"

    def __init__(self, folder: Path, name: str) -> None:
        self.name = name
        self._tower = _Tower(_session(folder / "model.onnx"),
                             _tokenizer(folder / "tokenizer.json", None))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._tower.encode(texts)


class ImageModel:
    """A CLIP-family model: pictures and descriptions -> unit vectors in one space."""

    space = "image"

    def __init__(self, folder: Path, name: str) -> None:
        self.name = name
        self._image = _session(folder / "image.onnx")
        text_session = _session(folder / "text.onnx")
        fixed = text_session.get_inputs()[0].shape[-1]
        self._text = _Tower(text_session, _tokenizer(folder / "tokenizer.json",
                                                     fixed if isinstance(fixed, int) else None))
        conf = _preprocess(folder / "preprocess.json")
        self.size = int(conf.get("size", CLIP_SIZE))
        self.mean = np.asarray(conf.get("mean", CLIP_MEAN), dtype=np.float32)[:, None, None]
        self.std = np.asarray(conf.get("std", CLIP_STD), dtype=np.float32)[:, None, None]
        self._input = self._image.get_inputs()[0].name
        self._lock = threading.Lock()

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._text.encode(texts)

    def encode_images(self, images: Sequence[bytes]) -> np.ndarray:
        """Encoded pictures (JPEG/PNG bytes, e.g. the stored thumbnails)."""
        batch = np.stack([self._pixels(data) for data in images])
        with self._lock:
            out = self._image.run(None, {self._input: batch})[0]
        return _unit(np.asarray(out, dtype=np.float32).reshape(len(images), -1))

    def _pixels(self, data: bytes) -> np.ndarray:
        """CLIP's preprocessing: shorter side to size (bicubic), centre crop, scale, normalise."""
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")
        scale = self.size / min(rgb.size)
        resized = rgb.resize((max(self.size, round(rgb.width * scale)),
                              max(self.size, round(rgb.height * scale))),
                             Image.Resampling.BICUBIC)
        left, top = (resized.width - self.size) // 2, (resized.height - self.size) // 2
        crop = resized.crop((left, top, left + self.size, top + self.size))
        chw = np.asarray(crop, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return (chw - self.mean) / self.std


def _preprocess(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelBroken(f"cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def load(models_dir: Path, name: str, space: str) -> TextModel | ImageModel:
    """The model of that name for a space, from its folder; ModelMissing says how to get it."""
    if not is_present(models_dir, name, space):
        raise ModelMissing(missing_message(models_dir, name, space))
    folder = model_folder(models_dir, name)
    return TextModel(folder, name) if space == "text" else ImageModel(folder, name)
