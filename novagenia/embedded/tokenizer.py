"""A CLIP byte-level BPE tokenizer built locally (no download): all 256 byte symbols,
merges learnt on a word list so that each of those words is one token, and CLIP's
start/end tokens. Used by the embedded models and the benchmarks' full-size builds."""

from __future__ import annotations

from collections.abc import Iterable

from transformers import CLIPTokenizer

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MAX_LENGTH = 77


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte -> printable unicode character table (byte-level BPE alphabet)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\u00a1"), ord("\u00ac") + 1))
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def build_vocab(words) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level BPE vocab + merges in which every word of ``words`` is one token.

    The merges are learnt by ordinary BPE training on the word list (most frequent pair
    first, ties broken alphabetically), which BPE encoding replays exactly, so each word
    ends up as the single token ``word</w>``. All 256 byte symbols (plain and end-of-word)
    are in the vocabulary too, so any text can be tokenized.
    """
    b2u = bytes_to_unicode()
    alphabet = [b2u[b] for b in range(256)]
    vocab_list = [*alphabet, *(c + "</w>" for c in alphabet)]
    seqs = []
    for w in sorted(set(words)):
        chars = [b2u[b] for b in w.encode("utf-8")]
        seqs.append([*chars[:-1], chars[-1] + "</w>"])
    merges: list[tuple[str, str]] = []
    while True:
        counts: dict[tuple[str, str], int] = {}
        for s in seqs:
            for p in zip(s, s[1:], strict=False):
                counts[p] = counts.get(p, 0) + 1
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        merges.append(pair)
        merged = pair[0] + pair[1]
        if merged not in vocab_list:
            vocab_list.append(merged)
        new = []
        for s in seqs:
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == pair:
                    out.append(merged)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            new.append(out)
        seqs = new
    vocab_list += [BOS, EOS]
    return {t: i for i, t in enumerate(vocab_list)}, merges


def build_clip_tokenizer(words: Iterable[str] = ()) -> CLIPTokenizer:
    vocab, merges = build_vocab(words)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_LENGTH)
