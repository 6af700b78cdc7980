"""Token <-> id mapping with reserved padding and unknown ids, saved inside the model directory."""

from collections import Counter
from collections.abc import Iterable, Sequence

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1


class Vocabulary:
    """An immutable token list; id 0 is padding and id 1 stands for every unseen token."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError(f"a vocabulary must start with {PAD!r} and {UNK!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary must not repeat a token")
        self.tokens: tuple[str, ...] = tuple(tokens)
        self._ids = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(
        cls, documents: Iterable[Iterable[str]], *, min_freq: int = 1, max_size: int | None = None
    ) -> "Vocabulary":
        """Keep tokens seen at least `min_freq` times, most frequent first (ties alphabetical),
        at most `max_size` of them besides the two reserved entries."""
        counts: Counter[str] = Counter()
        for tokens in documents:
            counts.update(tokens)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK, *ranked[:max_size]])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Map tokens to ids; unknown tokens map to UNK_ID."""
        ids = self._ids
        return [ids.get(token, UNK_ID) for token in tokens]
