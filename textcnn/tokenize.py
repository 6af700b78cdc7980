"""Word tokenization and text normalization, shared by training and prediction.

Normalization is Unicode NFKC (folds full-width forms, ligatures and compatibility characters),
then optional lower-casing. Tokens are runs of word characters (letters, digits, underscore in any
script) that may be joined by an inner apostrophe, hyphen, period or comma ("don't", "e-mail",
"U.S", "3.5", "10,000"), or single non-space symbols ("$", "!", "£").
"""

import re
import unicodedata

_TOKEN = re.compile(r"\w+(?:['’.,\-]\w+)*|[^\w\s]")


def normalize(text: str, *, lowercase: bool) -> str:
    """Return `text` in the form the vocabulary is built on."""
    text = unicodedata.normalize("NFKC", text)
    return text.lower() if lowercase else text


def tokenize(text: str, *, lowercase: bool = True) -> list[str]:
    """Split `text` into word and symbol tokens after normalization. Never raises on a str."""
    return _TOKEN.findall(normalize(text, lowercase=lowercase))
