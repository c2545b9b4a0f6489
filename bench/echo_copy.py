"""How the agent's output echo scales with output that has no line breaks (issue 24, item 10).

    .venv/bin/python bench/echo_copy.py [--sizes 40,80,160,320] [--repeat 5]

With several workers the agent prefixes each line of a run's output with its id, so it keeps
a run's unfinished line until the line ends. A program that draws a progress bar with `\\r`
never ends its line. The echo made by `sweepctl.progress.write_echo(True)` is fed 64 KiB
chunks of `step 123456\\r` from two runs in turn, written to /dev/null, in-process; for each
size the median time of `--repeat` tries is printed with its ratio to the smallest size.
Linear copying gives a ratio equal to the size ratio (8 for 320 MB against 40 MB); copying
the pending line again with every chunk, as before this fix, gives its square (64).
Results go to bench/results/echo_copy.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from sweepctl import progress

CHUNK = b"step 123456\r" * 5461  # about 64 KiB, no line break


class _Sink:
    """A stdout whose buffer is /dev/null, for write_echo to write to."""

    def __init__(self) -> None:
        self.buffer = open(os.devnull, "wb")  # noqa: SIM115 - closed in main

    def write(self, _text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def one(megabytes: int) -> float:
    echo = progress.write_echo(True)
    chunks = megabytes * 1024 * 1024 // len(CHUNK)
    start = time.perf_counter()
    for i in range(chunks):
        echo("run-a" if i % 2 else "run-b", CHUNK)
    echo("run-a", b"")
    echo("run-b", b"")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="40,80,160,320", help="megabytes, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    sink = _Sink()
    real = sys.stdout
    sys.stdout = sink  # write_echo writes to sys.stdout.buffer
    try:
        medians = {mb: statistics.median(one(mb) for _ in range(args.repeat)) for mb in sizes}
    finally:
        sys.stdout = real
        sink.buffer.close()
    base = sizes[0]
    lines = [
        "| output without line breaks | median time | ratio to the smallest | size ratio |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {mb} MB | {t:.3f} s | {t / medians[base]:.1f} | {mb / base:.1f} |"
        for mb, t in medians.items()
    ]
    table = "\n".join(lines)
    print(table)
    out = Path(__file__).parent / "results" / "echo_copy.md"
    out.write_text(
        "# Echo of output without line breaks (bench/echo_copy.py)\n\n"
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, repeat {args.repeat}.\n\n"
        + table
        + "\n"
    )


if __name__ == "__main__":
    main()
