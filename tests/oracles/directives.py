#!/usr/bin/env python3
"""Writes rules/directives.toml: every key of every unit section that some
systemd release capcheck knows (252-262) accepts, with the release that
added it and, for keys dropped since, the first release without it.

The keys come from `systemd --dump-configuration-items` of the measured
releases: this host's 252 and the oracle chroots (254, 257, 262; run
tests/oracles/build.sh first). A key first seen in a measured release is
dated by the NEWS of the releases in between when they name it ("Key="),
else by the release it was measured in. tests/oracle.rs checks the file
against the oracles' dumps.

    python3 tests/oracles/directives.py > rules/directives.toml
"""
import gzip
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEASURED = [252, 254, 257, 262]


def tree(release):
    path = subprocess.run(["bash", HERE / "build.sh", "--path", str(release)],
                          capture_output=True, text=True, check=True).stdout.strip()
    return Path(path) / "root"


def dump(release):
    if release == 252:
        command = ["/lib/systemd/systemd", "--dump-configuration-items"]
    else:
        command = ["chroot", tree(release), "/usr/lib/systemd/systemd", "--dump-configuration-items"]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    keys, section = set(), None
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line:
            keys.add((section, line.split("=", 1)[0]))
    return keys


def news_releases():
    """Each line of the newest NEWS with the release it belongs to."""
    text = gzip.open(tree(MEASURED[-1]) / "usr/share/doc/systemd/NEWS.gz", "rt").read()
    release, lines = None, []
    for line in text.splitlines():
        m = re.match(r"CHANGES WITH (\d+)", line)
        if m:
            release = int(m.group(1))
        lines.append((release, line))
    return lines


def main():
    keys = {r: dump(r) for r in MEASURED}
    news = news_releases()
    since, until = {}, {}
    for k in keys[MEASURED[0]]:
        since[k] = MEASURED[0]
    for before, after in zip(MEASURED, MEASURED[1:]):
        for k in keys[after] - keys[before]:
            named = [r for r, line in news
                     if r and before < r <= after and re.search(r"\b" + re.escape(k[1]) + "=", line)]
            since.setdefault(k, min(named) if named else after)
        for k in keys[before] - keys[after]:
            until.setdefault(k, after)
    out = sys.stdout
    out.write("# The keys of each unit file section and the systemd releases that know\n"
              "# them: `Key = SINCE` (252: every release capcheck knows), or\n"
              "# `Key = [SINCE, UNTIL]` for a key UNTIL and later releases dropped.\n"
              "# Written by tests/oracles/directives.py from `systemd --dump-configuration-items`\n"
              "# of 252, 254, 257 and 262 (the release in between from NEWS); checked by\n"
              "# tests/oracle.rs against those releases.\n")
    for section in sorted({s for s, _ in since}):
        out.write(f"\n[{section}]\n")
        for (s, key) in sorted(k for k in since if k[0] == section):
            value = since[(s, key)]
            if (s, key) in until:
                out.write(f"{key} = [{value}, {until[(s, key)]}]\n")
            else:
                out.write(f"{key} = {value}\n")


main()
