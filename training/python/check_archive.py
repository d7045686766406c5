#!/usr/bin/env python3
"""Check a Kairos event archive (kairos/training/archive) with pyarrow and pandas.

Usage: check_archive.py ARCHIVE_DIR EXPECTED_JSON

Reads ARCHIVE_DIR as a Hive-partitioned Parquet dataset (date=YYYY-MM-DD/
part-<writer>-<seq>.parquet), checks that every file has the documented
schema (column names and types, in order) and the kairos.archive.version
metadata, and compares the row counts per date and per event type with
EXPECTED_JSON:

    {"version": "1", "dates": {"2026-01-02": 3, ...}, "types": {"login": 2, ...}}

Counts are of rows, duplicates included (the archive is at least once).
Exits 0 when everything matches, 1 with one line per mismatch otherwise,
2 on bad usage.
"""

import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

VERSION_KEY = b"kairos.archive.version"

TS = pa.timestamp("ms", tz="UTC")
SCHEMA = [
    ("event_id", pa.string()),
    ("customer_id", pa.string()),
    ("type", pa.string()),
    ("timestamp", TS),
    ("arrived_at", TS),
    ("amount", pa.float64()),
    ("currency", pa.string()),
    ("product_id", pa.string()),
    ("category", pa.string()),
    ("page", pa.string()),
    ("plan_price", pa.float64()),
    ("properties", pa.string()),
    ("log_id", pa.string()),
]


def data_files(root):
    """The archive's data files: what the Go reader reads, skipping crash
    leftovers (*.tmp-*) and metadata (names starting with _ or .)."""
    files = []
    for f in sorted(root.glob("date=*/*.parquet")):
        if f.name.startswith(("_", ".")) or ".tmp-" in f.name:
            continue
        files.append(str(f))
    return files


def check(root, expected):
    problems = []
    files = data_files(root)
    if not files:
        return [f"{root}: no data files under date=YYYY-MM-DD/"]

    want_version = expected.get("version", "1").encode()
    for f in files:
        rel = Path(f).relative_to(root)
        schema = pq.read_schema(f)
        got = [(field.name, field.type) for field in schema]
        if got != SCHEMA:
            problems.append(
                f"{rel}: columns {[(n, str(t)) for n, t in got]}, "
                f"want {[(n, str(t)) for n, t in SCHEMA]}"
            )
        version = (schema.metadata or {}).get(VERSION_KEY)
        if version != want_version:
            problems.append(f"{rel}: metadata {VERSION_KEY.decode()} = {version!r}, want {want_version!r}")
    if problems:
        return problems

    dataset = ds.dataset(
        files,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("date", pa.string())]), flavor="hive"),
        partition_base_dir=str(root),
    )
    df = dataset.to_table().to_pandas()

    # The partition is the UTC date of every event's timestamp.
    ts_date = df["timestamp"].dt.strftime("%Y-%m-%d")
    wrong = df[ts_date != df["date"].astype(str)]
    if len(wrong):
        problems.append(
            f"{len(wrong)} rows outside their date partition, e.g. event {wrong.iloc[0]['event_id']!r} "
            f"at {wrong.iloc[0]['timestamp']} in date={wrong.iloc[0]['date']}"
        )
    if df["timestamp"].dt.tz is None or str(df["timestamp"].dt.tz) != "UTC":
        problems.append(f"timestamp time zone {df['timestamp'].dt.tz}, want UTC")

    for key, column in (("dates", "date"), ("types", "type")):
        want = {str(k): int(v) for k, v in expected.get(key, {}).items()}
        got = {str(k): int(v) for k, v in df[column].astype(str).value_counts().items()}
        if got != want:
            for name in sorted(set(want) | set(got)):
                if want.get(name, 0) != got.get(name, 0):
                    problems.append(f"{column} {name}: {got.get(name, 0)} rows, want {want.get(name, 0)}")
    return problems


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root = Path(argv[1])
    if not root.is_dir():
        print(f"check_archive: {root}: no such directory", file=sys.stderr)
        return 2
    with open(argv[2]) as f:
        expected = json.load(f)
    problems = check(root, expected)
    if problems:
        for p in problems:
            print(f"check_archive: {p}", file=sys.stderr)
        return 1
    n = sum(int(v) for v in expected.get("dates", {}).values())
    print(f"check_archive: {root}: {n} rows, schema and counts as expected (pandas {pd.__version__}, pyarrow {pa.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
