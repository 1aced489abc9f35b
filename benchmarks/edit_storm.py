"""Edit storm through the real server over stdio: throughput, settling time and resident memory.

The scenario of tests/resilience/test_server_storm.py (tests/resilience/storm.py): N didChange
notifications on a 2,000-line training module written as fast as the pipe takes them
(incremental and whole-document changes mixed), 200 other files opened and closed, and a
hover + codeAction every 97 edits. Printed beside two references measured in the same run:

* the same storm sent as ``plaintext`` documents: the same bytes and the same protocol work,
  no analysis behind it (what reading and bookkeeping alone cost);
* the engine's own ``analyze()`` of the final text in this process (what one analysis costs).

Resident memory of the server is printed after the first 100 edits, every 1,000 edits
while sending, and after the storm; the issue asks for at most +20 % after 10,000 edits.

Run:  python benchmarks/edit_storm.py [--edits 10000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.resilience.lsp_pipe import PipeClient
from tests.resilience.storm import (
    StormReport,
    expected_diagnostics,
    published_diagnostics,
    run_storm,
)


async def one_storm(edits: int, language_id: str) -> tuple[StormReport, bool]:
    with tempfile.TemporaryDirectory(prefix="loss-lsp-storm-") as folder:
        root = Path(folder)
        client = await PipeClient.start(root / "server-stderr.txt", cwd=root)
        try:
            await client.initialize(root)
            report = await run_storm(client, root, edits, language_id=language_id)
            last = client.publications((root / "storm_train.py").as_uri())[-1]
            same = language_id != "python" or published_diagnostics(last) == expected_diagnostics(
                report.final_text, str(root / "storm_train.py"))
            report.exit_code = await client.shutdown()
        finally:
            client.kill()
    return report, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1, help="storms per kind (medians are printed)")
    args = parser.parse_args()

    from loss_lsp.checker import analyze

    runs: dict[str, list[tuple[StormReport, bool]]] = {"python": [], "plaintext": []}
    for _ in range(args.rounds):  # alternate, so that machine load hits both kinds alike
        for kind, results in runs.items():
            results.append(asyncio.run(one_storm(args.edits, kind)))

    print(f"edit storm: {args.edits} didChange on a 2,000-line module, 200 files opened/closed, "
          f"hover + codeAction every 97 edits; {args.rounds} round(s), medians\n")
    print(f"{'':34}{'analysed (python)':>20}{'reference (plaintext)':>24}")

    def row(label: str, values: dict[str, float], unit: str) -> None:
        print(f"{label:34}{values['python']:>17.1f} {unit:<2}{values['plaintext']:>21.1f} {unit}")

    def median(kind: str, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r, _ in runs[kind])

    row("time to send every edit", {k: median(k, "seconds_to_send") for k in runs}, "s")
    row("edits per second", {k: args.edits / median(k, "seconds_to_send") for k in runs}, "")
    row("then until the last result", {k: median(k, "seconds_to_settle") for k in runs}, "s")
    row("server RSS after open", {k: median(k, "rss_start_mb") for k in runs}, "MB")
    row("server RSS after 100 edits", {k: median(k, "rss_after_100_mb") for k in runs}, "MB")
    row(f"server RSS after {args.edits} edits", {k: median(k, "rss_end_mb") for k in runs}, "MB")
    growth = {k: 100 * (median(k, "rss_end_mb") / median(k, "rss_after_100_mb") - 1) for k in runs}
    row("RSS growth after the first 100", growth, "%")
    report = runs["python"][-1][0]
    print("\nRSS while sending (python, last round): "
          + ", ".join(f"{n}: {mb:.1f}" for n, mb in sorted(report.rss_during_mb.items())))
    publications = [len(r.version_regressions) for r, _ in runs["python"]]
    print(f"publications (last round): {report.publications}; version regressions: {sum(publications)}; "
          f"published to closed files: {sum(len(r.after_close) for r, _ in runs['python'])}; "
          f"request errors: {sum(len(r.request_errors) for r, _ in runs['python'])}")
    print("final diagnostics == analyze() of the final text: "
          + ", ".join("yes" if same else "NO" for _, same in runs["python"]))
    started = time.perf_counter()
    analyze(report.final_text, "storm_train.py")
    cold = time.perf_counter() - started
    started = time.perf_counter()
    analyze(report.final_text, "storm_train.py")
    warm = time.perf_counter() - started
    print(f"reference: analyze() of the final text in this process: {cold * 1e3:.0f} ms cold, "
          f"{warm * 1e3:.0f} ms warm")


if __name__ == "__main__":
    main()
