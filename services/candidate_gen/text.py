"""Tokenising and query expansion shared by the TF-IDF index and search."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[a-z0-9]+")

# A small, hand-made synonym table: a query term -> terms added to the query.
# Keys and values are lower-case; multi-word values are matched as TF-IDF bigrams.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "earbuds": ("earphones", "headphones"),
    "earbud": ("earphones", "headphones"),
    "earphones": ("headphones", "earbuds"),
    "headphones": ("earphones", "headset"),
    "headset": ("headphones",),
    "tv": ("television",),
    "television": ("tv",),
    "phone": ("smartphone", "mobile"),
    "phones": ("smartphones", "mobiles"),
    "smartphone": ("mobile", "phone"),
    "mobile": ("smartphone", "phone"),
    "cellphone": ("smartphone", "mobile"),
    "sneakers": ("shoes",),
    "sneaker": ("shoes",),
    "trainers": ("shoes", "sneakers"),
    "laptop": ("notebook",),
    "laptops": ("notebooks",),
    "notebook": ("laptop",),
    "fridge": ("refrigerator",),
    "refrigerator": ("fridge",),
    "sofa": ("couch",),
    "couch": ("sofa",),
    "tee": ("tshirt", "t shirt"),
    "tshirt": ("t shirt", "tee"),
    "watch": ("smartwatch",),
    "specs": ("glasses", "spectacles"),
    "charger": ("adapter",),
    "speaker": ("speakers", "soundbar"),
    "jeans": ("denim",),
    "purse": ("handbag", "wallet"),
}


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def expand_query(query: str) -> list[str]:
    """Expansion terms for a query (not the query's own words), in a stable order."""
    words = tokens(query)
    seen = set(words)
    added: list[str] = []
    for word in words:
        syns = SYNONYMS.get(word)
        if syns is None and word.endswith("s"):
            syns = SYNONYMS.get(word[:-1])
        for syn in syns or ():
            if syn not in seen:
                seen.add(syn)
                added.append(syn)
    return added
