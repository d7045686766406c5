#!/usr/bin/env python3
"""Execute Jupyter notebooks headlessly with nbclient, as `make test` does.

Usage: python3 notebooks/execute.py [--timeout SECONDS] [--out DIR] NOTEBOOK...

Each notebook runs in a fresh python3 (ipykernel) kernel whose working directory is the
notebook's own, with this process's environment (e.g. KAIROS_EXPORT, KAIROS_MODEL_OUT).
A notebook must be stored without outputs; a cell that raises, or one that runs longer than
--timeout, fails it. With --out, the executed notebooks are written there (with outputs).
Prints one JSON line per notebook: {"notebook", "cells", "images", "seconds"}.
Exits 0 when every notebook ran, 1 otherwise (with the failing cell's error), 2 on bad usage.
"""

import argparse
import json
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

# The colours of IPython's tracebacks.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def stored_outputs(nb) -> list[str]:
    """The problems of a notebook stored with outputs: cells with outputs or execution counts."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {i}: has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i}: has an execution count")
    return problems


def execute(path: Path, timeout: int, out: Path | None) -> dict:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    problems = stored_outputs(nb)
    if problems:
        raise ValueError("stored with outputs (clear them before committing: "
                         f"jupyter nbconvert --clear-output --inplace {path}): " + "; ".join(problems))
    start = time.monotonic()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    try:
        client.execute()
    finally:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, out / path.name)
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    return {"notebook": str(path), "cells": len(nb.cells), "images": images,
            "seconds": round(time.monotonic() - start, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Execute notebooks headlessly (nbclient).")
    p.add_argument("--timeout", type=int, default=300, help="seconds a cell may run (default 300)")
    p.add_argument("--out", type=Path, help="write the executed notebooks to this directory")
    p.add_argument("notebooks", nargs="+", type=Path)
    args = p.parse_args(argv)
    failed = 0
    for path in args.notebooks:
        try:
            print(json.dumps(execute(path, args.timeout, args.out)), flush=True)
        except (CellExecutionError, CellTimeoutError) as e:
            print(f"{path}: a cell failed:\n{ANSI.sub('', str(e))}", file=sys.stderr)
            failed += 1
        except (OSError, ValueError, nbformat.ValidationError) as e:
            print(f"{path}: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
