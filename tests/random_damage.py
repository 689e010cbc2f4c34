"""Random byte damage for the "a damaged file gives only irforge.ConversionError" tests of the
file readers (Kaldi, MXNet, Caffe): the same small edits everywhere, one seeded rng per test."""

from __future__ import annotations


def damaged(data: bytes, rng, keep_prefix: int = 0, printable: bool = False, cuts: bool = True) -> bytes:
    """`data` with 1-3 random edits: each overwrites one byte or, one time in five (when `cuts`),
    cuts the file there. The first `keep_prefix` bytes stay (a magic that keeps format
    detection pointing at the reader under test) and a cut leaves at least one byte (an empty
    file tests nothing of the reader). `printable`: the new byte is printable ASCII, so that a
    JSON or text file stays text and the damage reaches past the tokenizer.

    The draws are rng.integers(1, 4) edits, then per edit the position, rng.random() (only
    when `cuts`) and the new byte: a test keeps its seed's sequence of files."""
    d = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        if len(d) <= keep_prefix:
            break  # an earlier cut left nothing that may change
        pos = int(rng.integers(keep_prefix, len(d)))
        if cuts and rng.random() < 0.2:
            del d[max(pos, 1):]
        else:
            d[pos] = int(rng.integers(0x20, 0x7F)) if printable else int(rng.integers(0, 256))
    return bytes(d)


def conversion_errors(attempt, runs: int) -> int:
    """How many of attempt(0) ... attempt(runs - 1) raise irforge.ConversionError. An attempt may
    also succeed (damage can leave a valid model); any other exception fails the test."""
    import irforge

    errors = 0
    for i in range(runs):
        try:
            attempt(i)
        except irforge.ConversionError:
            errors += 1
    return errors
