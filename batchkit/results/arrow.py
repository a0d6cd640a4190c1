"""A merged table's columns as Arrow arrays, made from their buffers so that pandas is never imported.

pyarrow's `array()`, `infer_type()` and `scalar()` import pandas on first use (to recognise its types):
a second or more of CPU and some 100 MB for a Parquet file that holds no pandas object. Integer columns
(`array('q')` with NA for none), text and boolean columns are laid out here as Arrow holds them — a
validity bitmap, offsets and UTF-8 bytes — and handed over with `Array.from_buffers`. Anything else
(embeddings: lists of numbers) takes `pyarrow.array`. numpy and pyarrow are imported when a Parquet file
is written, not with the module.
"""

from __future__ import annotations

from array import array
from itertools import accumulate
from typing import Annotated, Union

import msgspec

from .table import NA

MAX_OFFSET = 2**31 - 1  # a string array's offsets are 32-bit

# What kind of value an embedding is, as a Parquet column holds it (0: none): a vector of numbers, a list
# of vectors (a request of several inputs), text (base64), or any other value.
VECTOR, VECTORS, TEXT, OTHER = EMBEDDING_KINDS = 1, 2, 3, 4
# a number Arrow holds as a double: an integer past 2**53 is refused there
_NUMBER = Union[Annotated[int, msgspec.Meta(ge=-(2**53), le=2**53)], float]  # noqa: UP007
_SHAPES = ((VECTOR, list[_NUMBER]), (VECTORS, list[list[_NUMBER]]))


def embedding_kind(value) -> int:
    """The kind of an embedding (see VECTOR); 0 for None."""
    if value is None:
        return 0
    if type(value) is str:
        return TEXT
    for kind, shape in _SHAPES:
        try:
            msgspec.convert(value, shape)
        except msgspec.ValidationError:
            continue
        return kind
    return OTHER


def embeddings_as_text(kinds) -> bool:
    """Whether embeddings of these kinds (0s aside) take a text column in Parquet (each one as JSON, base64
    as it is): no one Arrow type holds them together."""
    kinds = set(kinds) - {0}
    return len(kinds) > 1 or OTHER in kinds


def kind_of(values, first=None):
    """The Arrow type of a column (as `pyarrow.infer_type` gives it): int64 for integers, string or bool
    when every value is text or every value a boolean, string when there is none; `first` stands in
    when the column has no value (the table's first embedding)."""
    import pyarrow as pa

    if isinstance(values, array):
        return pa.int64()
    present = [v for v in values if v is not None][:1000]
    if not present and first is not None:
        present = [first]
    if not present or all(type(v) is str for v in present):
        return pa.string()
    if all(type(v) is bool for v in present):
        return pa.bool_()
    return pa.infer_type(present)


def column(values, kind):
    """`values` (a list, or integers in an array('q')) as an Arrow array of type `kind`."""
    import numpy as np
    import pyarrow as pa

    if isinstance(values, array) and kind == pa.int64():
        numbers = np.frombuffer(values, dtype=np.int64)
        valid, nulls = _validity(numbers != NA)
        return pa.Array.from_buffers(kind, len(values), [valid, pa.py_buffer(values)], null_count=nulls)
    if kind == pa.string() and all(type(v) is str or v is None for v in values):
        encoded = [b"" if v is None else v.encode() for v in values]
        if sum(map(len, encoded)) > MAX_OFFSET:
            return pa.array(values, type=kind)  # pyarrow says what is wrong with such a column
        offsets = array("i", accumulate(map(len, encoded), initial=0))
        valid, nulls = _validity(np.array([v is not None for v in values], dtype=bool))
        data = pa.py_buffer(b"".join(encoded))
        return pa.Array.from_buffers(
            kind, len(values), [valid, pa.py_buffer(offsets), data], null_count=nulls
        )
    if kind == pa.bool_() and all(type(v) is bool or v is None for v in values):
        valid, nulls = _validity(np.array([v is not None for v in values], dtype=bool))
        bits = pa.py_buffer(np.packbits(np.array([v is True for v in values], dtype=bool), bitorder="little"))
        return pa.Array.from_buffers(kind, len(values), [valid, bits], null_count=nulls)
    return pa.array(values, type=kind)


def _validity(present):
    """(validity bitmap, or None when every value is there; how many are not) of a numpy array of bools."""
    import numpy as np
    import pyarrow as pa

    nulls = len(present) - int(np.count_nonzero(present))
    if not nulls:
        return None, 0
    return pa.py_buffer(np.packbits(present, bitorder="little")), nulls
