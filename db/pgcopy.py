"""Vectorised encoder of PostgreSQL's binary ``COPY`` format (``COPY … FROM STDIN (FORMAT BINARY)``).

Format (PostgreSQL docs, "COPY — Binary Format"): an 11-byte signature ``PGCOPY\\n\\377\\r\\n\\0``, a 32-bit flags
field and a 32-bit header-extension length (both 0 here); then per row a 16-bit field count and, per field, a
32-bit byte length (-1 = NULL) followed by the value in the type's binary send format; then a 16-bit -1
trailer. All integers big-endian. Send formats used: ``timestamptz`` = int64 microseconds since
2000-01-01 00:00 UTC; ``float8`` = IEEE-754 binary64; ``int4`` = int32; ``bool`` = one byte 0/1;
``text`` = the UTF-8 bytes (no terminator); ``jsonb`` = a version byte 1 followed by the JSON text in UTF-8
(PostgreSQL ``jsonb_send``/``jsonb_recv``; the server parses the text, so a value must be valid JSON).

Rows are variable-length only through their text values and NULLs, so the rows are grouped by (byte length of
each text value, NULL pattern): inside a group every row has the same layout and the group is one numpy
structured array, filled column by column (no Python loop over rows; a snapshot of 1,800 symbols makes a few
dozen groups, not one per symbol). Groups are concatenated; row order across groups
follows the first appearance of each group (COPY does not care about order).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
#: Microseconds from the Unix epoch to PostgreSQL's epoch (2000-01-01 00:00 UTC).
PG_EPOCH_US = 946_684_800_000_000
#: Column type name → (big-endian numpy dtype of the value, byte length).
_FIXED = {"timestamptz": (">i8", 8), "float8": (">f8", 8), "int4": (">i4", 4), "bool": ("u1", 1)}
#: Variable-length column types → the prefix of the UTF-8 bytes (``jsonb``'s binary format version 1).
_VARIABLE = {"text": b"", "jsonb": b"\x01"}
TYPES = (*_FIXED, *_VARIABLE)


def _values(series: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(values, is_null)`` of one column as numpy arrays; text/jsonb as ``(lengths, encoded)``: each row's
    encoded byte length (-1 = NULL) and its encoded value (a ``bytes`` object array)."""
    if kind in _VARIABLE:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        encoded = np.array([_VARIABLE[kind] + str(u).encode("utf-8") for u in uniques] + [b""], dtype=object)
        sizes = np.array([len(b) for b in encoded[:-1]] + [-1], dtype=np.int64)
        return sizes[codes], encoded[codes]
    if kind == "timestamptz":
        micros = pd.to_datetime(series, utc=True).dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
        return micros.view("int64") - PG_EPOCH_US, np.isnat(micros)
    values = series.to_numpy(dtype="float64", na_value=np.nan)  # int4/bool: exact in float64
    is_null = np.isnan(values)
    if kind != "float8":
        values = np.where(is_null, 0, values).astype(_FIXED[kind][0])
    return values, is_null


def encode(frame: pd.DataFrame, types: dict[str, str]) -> bytes:
    """The complete binary COPY payload (signature, rows, trailer) of ``frame[list(types)]``: the parts of
    :func:`encode_parts` joined."""
    return b"".join(encode_parts(frame, types))


def encode_parts(frame: pd.DataFrame, types: dict[str, str]) -> Iterator[bytes]:
    """The binary COPY payload of ``frame[list(types)]`` in parts (signature, one part per group of rows,
    trailer), so a caller can send each part while the next is encoded.

    ``types`` maps column → one of :data:`TYPES`, in the order of the ``COPY … (columns)`` list. NaN/None/NaT
    become NULL. Text is encoded as UTF-8; a ``jsonb`` column holds JSON text (``str``, e.g. ``json.dumps``).
    Raises ``KeyError`` for an unknown type or missing column and ``ValueError`` (``OverflowError``) for values
    that do not fit their type (invalid JSON is rejected by the server: ``psycopg`` ``DataError``)."""
    names = list(types)
    columns = {c: _values(frame[c], types[c]) for c in names}
    # Group key: the text byte lengths and the NULL masks (text NULL is length -1).
    yield SIGNATURE
    if len(frame):
        keys = np.column_stack([columns[c][0] if types[c] in _VARIABLE else columns[c][1] for c in names])
        for positions in _groups(keys.astype(np.int64)):
            yield _encode_group(names, types, columns, positions)
    yield TRAILER


def _groups(keys: np.ndarray) -> list[np.ndarray]:
    """Row positions of each distinct row of ``keys`` (2-D int64), groups in order of first appearance, positions
    ascending. One code per row, combined column by column with ``pd.factorize`` (codes in order of first
    appearance, kept below the row count): a pandas ``groupby`` of the key columns cost ~3 ms for a 1,800-row
    snapshot, this ~0.3 ms."""
    code = np.zeros(len(keys), dtype=np.int64)
    for column in keys.T:
        values, uniques = pd.factorize(column)
        code = pd.factorize(code * len(uniques) + values)[0]
    order = np.argsort(code, kind="stable")
    return np.split(order, np.cumsum(np.bincount(code))[:-1])


def _encode_group(names, types, columns, positions: np.ndarray) -> bytes:
    """Rows at ``positions`` (same text values and NULL pattern) as one fixed-layout structured array."""
    first = positions[0]
    fields, fill = [("count", ">i2")], {"count": len(names)}
    for i, name in enumerate(names):
        values, extra = columns[name]
        is_text = types[name] in _VARIABLE
        if (values[first] < 0) if is_text else extra[first]:  # NULL
            fields.append((f"l{i}", ">i4"))
            fill[f"l{i}"] = -1
            continue
        if is_text:
            size = int(values[first])
            fields += [(f"l{i}", ">i4"), (f"v{i}", f"S{size}" if size else "V0")]
            fill[f"l{i}"] = size
            if size:  # same length in the whole group: no padding (text holds no NUL byte)
                fill[f"v{i}"] = np.array(list(extra[positions]), dtype=f"S{size}")
            continue
        dtype, size = _FIXED[types[name]]
        fields += [(f"l{i}", ">i4"), (f"v{i}", dtype)]
        fill[f"l{i}"] = size
        fill[f"v{i}"] = values[positions]
    out = np.empty(len(positions), dtype=np.dtype(fields))
    for field, value in fill.items():
        out[field] = value
    return out.tobytes()
