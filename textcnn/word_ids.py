"""Text -> vocabulary ids, with the ids of each whitespace-separated word memoized.

A token never holds whitespace (textcnn.tokenize), so the tokens of a normalized text are the
tokens of its whitespace-separated chunks in order, and a chunk's ids never change. News repeats
its words: after the first few documents nearly every chunk is a dictionary hit, which skips the
regex and the vocabulary lookup it stands for.
"""

from textcnn.tokenize import normalize, split_normalized
from textcnn.vocab import Vocabulary

# The cache holds at most this many chunks and starts again when full: its memory stays bounded
# whatever the input, and a vocabulary's worth of common words fits many times over.
CAPACITY = 1 << 17
# Longer chunks (URLs, runs without spaces) are rare and would only crowd the cache.
LONGEST_CHUNK = 48


class WordIds:
    """`vocab.encode(tokenize(text, lowercase=lowercase))`, faster; safe to share between threads
    (each dictionary operation is atomic, and a lost insertion only costs a recomputation)."""

    def __init__(self, vocab: Vocabulary, *, lowercase: bool, capacity: int = CAPACITY) -> None:
        self.vocab = vocab
        self.lowercase = lowercase
        self.capacity = capacity
        self._chunks: dict[str, tuple[int, ...]] = {}

    def __call__(self, text: str, limit: int | None = None) -> list[int]:
        """The ids of the tokens of `text`, at most the first `limit` of them."""
        chunks = self._chunks
        ids: list[int] = []
        # Split after normalizing: NFKC may turn a character into a space (U+00A8 -> " ̈").
        for chunk in normalize(text, lowercase=self.lowercase).split():
            found = chunks.get(chunk)
            ids.extend(self._encode(chunk) if found is None else found)
        return ids if limit is None else ids[:limit]

    def _encode(self, chunk: str) -> tuple[int, ...]:
        ids = tuple(self.vocab.encode(split_normalized(chunk)))
        if len(chunk) <= LONGEST_CHUNK:
            if len(self._chunks) >= self.capacity:
                self._chunks.clear()
            self._chunks[chunk] = ids
        return ids
