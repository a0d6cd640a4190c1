"""Where a table comes from: its format (by extension), its files (a folder or pattern of Parquet files,
an fsspec URL) and how it is opened."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError, UsageError
from ..lines import source_name
from ..words import Option, Text

FORMATS = ("csv", "tsv", "xlsx", "parquet", "json", "jsonl")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}

Source = str | os.PathLike | BinaryIO


def compression_of(path: Path) -> str | None:
    return COMPRESSIONS.get(path.suffix.lower())


def table_format(source: Source, fmt: str | None = None) -> str:
    """The format to read or write `source` as: `fmt` when given, else by extension; '-' is CSV."""
    if fmt:
        fmt = fmt.lower().lstrip(".")
        if fmt not in FORMATS:
            raise UsageError(f"unknown table format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        return fmt
    if hasattr(source, "read") or str(source) == "-":
        return "csv"
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in COMPRESSIONS:
        suffix = Path(path.stem).suffix.lower()
    try:
        return EXTENSIONS[suffix]
    except KeyError:
        known = ", ".join(sorted(EXTENSIONS))
        raise UsageError(
            Text(
                f"{path}: cannot tell the table format from the extension {path.suffix or '(none)'!r}; "
                f"use one of {known} or pass ",
                Option("input_format"),
            )
        ) from None


def open_source(source: Source):
    """A path (checked to exist) or an open binary stream for '-' / a file object / an fsspec URL."""
    if hasattr(source, "read"):
        return source
    if str(source) == "-":
        return sys.stdin.buffer
    if is_url(source):
        return open_url(source)
    path = Path(source)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a table")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return path


def decode_error(source: Source, encoding: str | None, error: UnicodeDecodeError) -> InputError:
    used = encoding or "utf-8"
    return InputError(
        Text(
            f"{source_name(source)}: cannot decode the file as {used} (found byte "
            f"0x{error.object[error.start]:02x}); pass ",
            Option("encoding"),
            " with the file's encoding, for example ",
            Option("encoding", "cp1252"),
            " or ",
            Option("encoding", "latin-1"),
        )
    )


def is_url(source) -> bool:
    """Whether `source` names a file through fsspec (s3://, gs://, file://, …)."""
    return isinstance(source, (str, os.PathLike)) and "://" in os.fspath(source)


def _filesystem(url: str):
    try:
        import fsspec
    except ImportError:
        raise UsageError(
            f"{url}: reading URLs needs fsspec (pip install fsspec, and the backend, e.g. s3fs)"
        ) from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise UsageError(f"{url}: {e}") from None


def open_url(url: str):
    """An open binary file for an fsspec URL (the caller closes it)."""
    fs, path = _filesystem(os.fspath(url))
    try:
        return fs.open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{url}: no such file") from None
    except OSError as e:
        raise InputError(f"{url}: cannot read: {e}") from None


def _url_files(url: str) -> list[str]:
    fs, path = _filesystem(url)
    if any(c in path for c in "*?["):
        found = sorted(fs.glob(path))
    elif fs.isdir(path):
        found = sorted(p for p in fs.find(path) if p.lower().endswith((".parquet", ".pq")))
    else:
        return [url]
    if not found:
        raise InputError(f"{url}: no file matches")
    return [fs.unstrip_protocol(p) for p in found]


def table_files(source: Source) -> list:
    """The files one table is made of, in row order: a folder holds a partitioned dataset (its Parquet
    files, sorted by path), a pattern with * ? or [ names the files it matches (sorted); anything else is
    itself."""
    if hasattr(source, "read") or str(source) == "-":
        return [source]
    text = os.fspath(source)
    if is_url(text):
        return _url_files(text)
    if any(c in text for c in "*?["):
        import glob

        files = sorted(glob.glob(text, recursive=True))
        if not files:
            raise InputError(f"{text}: no file matches")
        return files
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".parquet", ".pq"))
        if not files:
            raise InputError(
                f"{path}: a folder, but it holds no Parquet files (a partitioned table is a folder of them)"
            )
        return files
    return [source]
