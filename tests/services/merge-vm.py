#!/usr/bin/env python3
"""Moves what a VM boot of the real-systemd lane wrote to its results disk
into the lane's output directory, as an nspawn boot (which writes there
directly) would have left it.

Usage: tests/services/merge-vm.py DUMP OUT

DUMP is the results disk's content (debugfs rdump). Its results.jsonl and
progress.log are appended to OUT's; every other file or directory is copied
over. Each result carrying a recorded profile (`profile`, its TOML text)
gets what the profile says, read here because the VM has no TOML reader:
`profile_needed` (capabilities granted at least once, or marked needed),
`profile_possibly` (only ever denied), `recording` (its [recording]
table) and `deroot_run` (its [de-root] table: the run as a user).
"""

import json
import shutil
import sys
import tomllib
from pathlib import Path


def read_profile(text: str) -> dict:
    """The fields a profile's text adds to a result (an unreadable one says so)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return {"profile_error": str(e)}
    caps = doc.get("capabilities", {})
    needed = sorted(c for c, o in caps.items() if o.get("granted", 0) > 0 or o.get("needed") is True)
    possibly = sorted(c for c, o in caps.items() if c not in needed and o.get("denied", 0) > 0)
    return {
        "profile_needed": needed,
        "profile_possibly": possibly,
        "recording": doc.get("recording"),
        "deroot_run": doc.get("de-root"),
    }


def main() -> int:
    dump, out = Path(sys.argv[1]), Path(sys.argv[2])
    if not dump.is_dir():
        print(f"merge-vm.py: {dump}: no results disk content", file=sys.stderr)
        return 1
    for entry in sorted(dump.iterdir()):
        name = entry.name
        if name == "lost+found":
            continue
        target = out / name
        if name == "results.jsonl":
            with target.open("a") as results:
                for line in entry.read_text().splitlines():
                    if not line.strip():
                        continue
                    r = json.loads(line)
                    if r.get("profile"):
                        r.update(read_profile(r["profile"]))
                    results.write(json.dumps(r) + "\n")
        elif name == "progress.log":
            with target.open("a") as log:
                log.write(entry.read_text())
        elif entry.is_dir():
            shutil.copytree(entry, target, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
