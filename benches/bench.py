#!/usr/bin/env python3
"""capcheck against its peers, side by side, on the same units.

First start-up and small runs: one unit linted beside `capcheck --version`
and `/bin/true`, and capcheck against `systemd-analyze security
--offline=true` on 1, 10, 156 (a sample of the corpus) and 2,000 units
(the generated tree), each set measured side by side in one run. Then it
runs `capcheck lint --format json`, `systemd-analyze security --offline=true`
(all units in one call, its fastest mode) and systemdlint (PyPI) on
(a) every service of ../shared/corpus and (b) a generated tree of
BENCH_UNITS units (default 100,000; benches/gen_units.py, a third with a
drop-in; the peers run once on it, about ten minutes together, skipped
with BENCH_PEERS_ON_TREE=0), and capcheck alone on a quarter and a half
of that tree to show how time grows. Each command runs BENCH_RUNS times
(default 5); the median wall time and the peak memory are printed, with
capcheck's ratio to each peer. On the corpus, the commands run in turns, round after round, so
that all of them meet the machine in the same state; those that take
milliseconds run five times a round.

Usage: benches/bench.py        (from anywhere; builds capcheck in release)
Needs GNU time (/usr/bin/time, Debian package `time`) for peak memory.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
UNITS = int(os.environ.get("BENCH_UNITS", "100000"))


def run_once(argv):
    """Wall seconds of one run, from spawn to exit of the command itself:
    no wrapper (GNU time, a shell) adds its start-up to a run that takes
    milliseconds."""
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def with_memory(argv):
    """Wall seconds and peak resident memory (MB) of one run under GNU
    time (the kernel's figure for a child of this process would count the
    Python process it was forked from)."""
    with tempfile.NamedTemporaryFile("r") as out:
        start = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name] + argv,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        return wall, int(out.read().split()[-1]) / 1024


def report(name, units, walls, memory):
    wall = statistics.median(walls)
    print(f"  {name:<18} {wall:9.4f} s  {units / wall:12.0f} units/s"
          f"  {memory:7.1f} MB   (median of {len(walls)})")
    return wall


def measure(name, units, argv, runs=RUNS):
    wall, memory = with_memory(argv)
    # GNU time's start-up (~2 ms) matters only to runs of milliseconds: a
    # longer run under it counts as one of the timed runs.
    walls = [wall] if wall > 1 else []
    walls += [run_once(argv) for _ in range(runs - len(walls))]
    return report(name, units, walls, memory)


def side_by_side(units, commands):
    """Runs the commands in turns, BENCH_RUNS rounds, so that a machine
    that slows down or speeds up mid-benchmark affects all of them alike.
    `commands`: (name, argv, runs per round): commands that take
    milliseconds run several times a round, since such short runs vary
    more. Returns each one's median wall time."""
    walls = {name: [] for name, _, _ in commands}
    for _ in range(RUNS):
        for name, argv, per_round in commands:
            walls[name].extend(run_once(argv) for _ in range(per_round))
    return {name: report(name, units, walls[name], with_memory(argv)[1])
            for name, argv, _ in commands}


def ratios(times):
    base = times["capcheck"]
    for peer, wall in times.items():
        if peer not in ("capcheck", "capcheck --version", "/bin/true"):
            print(f"  capcheck is {wall / base:.1f}x faster than {peer}")


def sample(files, n):
    """`n` of `files` spread evenly over them (deterministic)."""
    step = len(files) / n
    return [files[int(i * step)] for i in range(n)]


def small_runs(lint, capcheck, corpus_files, tree_files):
    """What start-up costs, and capcheck against systemd-analyze on small
    sets, where start-up is most of the time: 1, 10 and 156 corpus
    services and 2,000 generated units, each set side by side in one run.
    Runs of milliseconds run twenty times a round."""
    analyze = ["systemd-analyze", "security", "--offline=true", "--no-pager"]
    one = corpus_files[:1]
    print(f"start-up: one unit ({os.path.basename(one[0])})")
    times = side_by_side(1, [
        ("/bin/true", ["/bin/true"], 20),
        ("capcheck --version", [capcheck, "--version"], 20),
        ("capcheck", lint + one, 20),
        ("systemd-analyze", analyze + one, 2),
    ])
    over = times["capcheck"] - times["capcheck --version"]
    print(f"  a 1-unit lint takes {over * 1000:.2f} ms more than --version, "
          f"which takes {(times['capcheck --version'] - times['/bin/true']) * 1000:.2f} ms "
          f"more than /bin/true")
    ratios(times)
    sets = [(10, sample(corpus_files, 10)), (156, sample(corpus_files, 156)),
            (2000, tree_files[:2000])]
    for n, files in sets:
        if len(files) < n:
            print(f"{n} units: only {len(files)} available, skipped")
            continue
        print(f"{n} units ({'corpus sample' if files[0] in corpus_files else 'generated'})")
        per_round = 20 if n <= 10 else 5
        ratios(side_by_side(n, [("capcheck", lint + files, per_round),
                                ("systemd-analyze", analyze + files, 1)]))


def xargs(listing, *argv, one_call=False):
    """`argv` over the files listed in `listing`. With `one_call`, in as few
    calls as the kernel's argument limit allows (xargs alone stops at 128
    KiB): systemd-analyze's mode the comparison asks for. Without it, in
    xargs' batches: systemdlint's time grows faster than linearly with the
    files of one call (20,000 at once ran for over half an hour)."""
    if not one_call:
        return ["xargs", "-a", listing] + list(argv)
    environment = sum(len(k) + len(v) + 2 for k, v in os.environ.items())
    room = os.sysconf("SC_ARG_MAX") - environment - 4096
    return ["xargs", "-s", str(room), "-a", listing] + list(argv)


def main():
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=REPO, check=True)
    # Where cargo put it: CARGO_TARGET_DIR when set (else a stale or missing
    # binary under target/ would be measured).
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    capcheck = os.path.join(REPO, target, "release", "capcheck")
    if shutil.which("systemdlint") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "--root-user-action=ignore",
                        "systemdlint"], check=True)
    lint = [capcheck, "lint", "--isolated", "--format", "json", "--exit-zero"]
    work = tempfile.mkdtemp(prefix="capcheck-bench-")
    try:
        tree = os.path.join(work, "tree")
        subprocess.run([sys.executable, os.path.join(REPO, "benches", "gen_units.py"),
                        str(UNITS), tree], check=True)
        tree_files = sorted(os.path.join(d, f) for d, _, names in os.walk(tree)
                            for f in names if f.endswith(".service"))
        corpus = os.path.join(REPO, "..", "shared", "corpus")
        if os.path.isdir(corpus):
            files = sorted(
                os.path.join(d, f)
                for d, _, names in os.walk(corpus) if "oracle" not in d
                for f in names if f.endswith(".service"))
            small_runs(lint, capcheck, files, tree_files)
            listing = os.path.join(work, "corpus.list")
            with open(listing, "w") as out:
                out.write("\n".join(files) + "\n")
            print(f"corpus: {len(files)} services")
            times = side_by_side(len(files), [
                ("cat (reading only)", ["cat"] + files, 5),
                ("capcheck", lint + files, 5),
                ("systemd-analyze", ["systemd-analyze", "security", "--offline=true",
                                     "--no-pager"] + files, 1),
                ("systemdlint", xargs(listing, "systemdlint", "--norootfs"), 1),
            ])
            del times["cat (reading only)"]
            ratios(times)
        else:
            print("corpus: ../shared/corpus not found, skipped (and the small runs)")

        print(f"generated: {UNITS} units (a third with a drop-in), "
              f"{sum(len(f) for _, _, f in os.walk(tree))} files")
        # The tree holds directories of 1,000 units: a quarter and a half of
        # them show whether time grows linearly.
        dirs = sorted(os.path.join(tree, d) for d in os.listdir(tree))
        for share in (4, 2):
            part = dirs[: len(dirs) // share]
            n = len(part) * 1000
            if n == 0:
                continue
            wall = measure(f"capcheck {n}", n, lint + part, runs=3)
            print(f"  {'':<18} {wall / n * 1e6:9.1f} us per unit")
        wall = measure(f"capcheck {UNITS}", UNITS, lint + [tree], runs=3)
        print(f"  {'':<18} {wall / UNITS * 1e6:9.1f} us per unit")
        if os.environ.get("BENCH_PEERS_ON_TREE") != "0":
            listing = os.path.join(work, "tree.list")
            with open(listing, "w") as out:
                for d, _, names in os.walk(tree):
                    out.writelines(os.path.join(d, f) + "\n" for f in names
                                   if f.endswith(".service"))
            times = {
                "capcheck": wall,
                "systemd-analyze": measure("systemd-analyze", UNITS, xargs(
                    listing, "systemd-analyze", "security", "--offline=true", "--no-pager",
                    one_call=True),
                    runs=1),
                "systemdlint": measure("systemdlint", UNITS,
                                       xargs(listing, "systemdlint", "--norootfs"), runs=1),
            }
            ratios(times)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
