"""Reading and writing tables (CSV, TSV, Excel, Parquet, JSON array, JSONL) through pandas, pyarrow and openpyxl.

Two ways to read, because the builder and the merger need different things:

- `iter_table(...)` streams a table in chunks of at most `chunk_rows` rows with *exact* cells: CSV and TSV
  cells are the strings in the file ("" for an empty cell; "007", "3", "NA" stay as written), every other
  format gives its own values without pandas' float-for-int widening (an integer column with gaps keeps
  Python ints, a JSON `3.0` stays a float). `cell_text(value)` turns such a cell into the text a template
  inserts. CSV and JSONL are read in chunks and Parquet by record batches, so memory stays bounded; an Excel
  sheet or a JSON array file is read whole (openpyxl and JSON arrays cannot stream) and then chunked.
- `read_table(...)` reads a whole table into one DataFrame, by default with *typed* columns: pandas'
  nullable dtypes (Int64, Float64, boolean, string) inferred without loss, so an integer column with an
  empty cell stays integer and a CSV column of ids such as "007" stays text.

Row numbers: the n-th data row read (1-based, the header is not a row; pandas skips blank CSV lines) is
row n, in both ways of reading, so `iter_table` and `read_table` agree on which row is which.

`write_table(df, path)` writes CSV, TSV, XLSX, Parquet, JSON or JSONL by the path's extension (a trailing
.gz/.bz2/.xz/.zst compresses CSV, TSV and JSONL), atomically. Writing '-' (standard output) is the caller's
job: `df.to_csv(sys.stdout, index=False)`.
"""

from __future__ import annotations

from .cells import cell_text, column_texts, column_values, id_texts
from .read import CHUNK_ROWS, iter_table, parquet_file, read_table, sheet_name
from .sources import COMPRESSIONS, EXTENSIONS, FORMATS, Source, is_url, open_url, table_files, table_format
from .write import write_table

__all__ = [
    "CHUNK_ROWS",
    "COMPRESSIONS",
    "EXTENSIONS",
    "FORMATS",
    "Source",
    "cell_text",
    "column_texts",
    "column_values",
    "id_texts",
    "is_url",
    "iter_table",
    "parquet_file",
    "open_url",
    "read_table",
    "sheet_name",
    "table_files",
    "table_format",
    "write_table",
]
