#!/usr/bin/env python3
"""Turns OUT/results.jsonl of the real-systemd lane into markdown on stdout.

Usage: tests/services/report.py OUT

A summary per mode, a table daemon x mode, a table per fixing mode (the
record mode's with the recorded profiles), the `capcheck try` scenarios,
the `record --attach` recordings, the probe check (if run), and for each
daemon that does not work (or broke) its state, probe output, capcheck's
change and the end of its journal.
"""

import json
import sys
from pathlib import Path

MODES = ["shipped", "default", "unsafe", "record"]
FLAGS = {"default": "", "unsafe": " --unsafe-fixes", "record": " --profile NAME.toml"}


def daemon_order(lane: Path) -> dict[str, str]:
    """The daemons in daemons.tsv's order, each with its record column."""
    daemons = {}
    for line in (lane / "daemons.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        if fields[0] != "name":
            daemons[fields[0]] = fields[-1]
    return daemons


def load(out: Path) -> tuple[dict, dict, dict, dict, dict]:
    """(results by (daemon, mode), probe checks by daemon, try results by
    scenario, attach results by daemon, exim4 lane results by step); the
    last record wins. The VM's attach-fix and trial results are by (daemon,
    mode) too."""
    results, checks, tries, attached, exim4 = {}, {}, {}, {}, {}
    for line in (out / "results.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if r.get("mode") == "probe-check":
            checks[r["daemon"]] = r
        elif r.get("mode") == "try":
            tries[r.get("scenario")] = r
        elif r.get("mode") == "attach":
            attached[r["daemon"]] = r
        elif r.get("mode") == "exim4":
            exim4[r.get("step")] = r
        else:
            results[(r["daemon"], r["mode"])] = r
    return results, checks, tries, attached, exim4


def works(r: dict) -> str:
    if r.get("error"):
        return "ERROR"
    if r.get("works_after") is True:
        return "works"
    if r.get("mode") != "shipped" and r.get("works_before") is True:
        return "BROKEN"
    return "fails"


def exposure(r: dict) -> str:
    before, after = r.get("exposure_before"), r.get("exposure_after")
    if before is None and after is None:
        return ""
    def num(x):
        return "?" if x is None else f"{x:.1f}"

    if r.get("mode") == "shipped" or before == after:
        return num(before)
    if before is None:
        return num(after)
    return f"{num(before)}→{num(after)}"


def kind(r: dict) -> str:
    return ", ".join(x for x in (r.get("fix_kind"), r.get("applicability")) if x) or ""


def short(text, n: int = 90) -> str:
    text = " ".join(str(text or "").split()).replace("|", "\\|")
    return text if len(text) <= n else text[: n - 1] + "…"


def note(r: dict) -> str:
    if r.get("error"):
        return short(r["error"])
    planned = r.get("planned_changes")
    if planned is not None and bool(planned) != bool(r.get("changed")):
        return f"MISMATCH: the JSON planned {planned} change(s), --write changed {'files' if r.get('changed') else 'nothing'}"
    if r.get("works_after") is not True:
        return short(f"{r.get('state_after', '')}: {r.get('probe_after', '')}")
    if r.get("mode") != "shipped" and not r.get("changed"):
        return short(r.get("fix_notes") or "")
    return ""


def cell(r: dict | None) -> str:
    """One daemon x mode cell of the matrix."""
    if r is None:
        return "—"
    parts = [works(r)]
    if r.get("mode") != "shipped":
        parts.append("changed" if r.get("changed") else "unchanged")
    if exposure(r):
        parts.append(exposure(r))
    return " · ".join(parts)


def changes(diff) -> str:
    """The settings a diff adds, in a few words: resets left out, but an
    empty bounding set (a reset nothing follows) said."""
    added = []
    for line in str(diff or "").splitlines():
        if line.startswith("+++") or not line.startswith("+"):
            continue
        line = line[1:].strip()
        if "=" not in line or line.startswith("#"):
            continue
        key, value = line.split("=", 1)
        if value:
            added.append(f"{key}={value}")
        elif key == "CapabilityBoundingSet":
            added.append(f"{key}= (empty)")
    # A reset followed by a value is only a reset.
    added = [a for i, a in enumerate(added)
             if not (a.endswith("= (empty)")
                     and any(b.startswith(a.split("=")[0] + "=") for b in added[i + 1:]))]
    return short("; ".join(added), 200) if added else ""


def caps(names) -> str:
    return " ".join(c.removeprefix("CAP_") for c in names or []) or "none"


def bounding_set(r: dict) -> str:
    """The bounding set after, short: `all`, or the names without `cap_`."""
    value = r.get("bounding_after") or ""
    return "all" if len(value.split()) >= 40 else value.replace("cap_", "")


def recording(r: dict) -> dict:
    return r.get("recording") or {}


def ids(r: dict) -> str:
    uid, cap = r.get("uid_after"), r.get("capeff_after")
    if uid is None:
        return ""
    return f"{uid} / {cap}"


def main() -> int:
    out = Path(sys.argv[1])
    lane = Path(__file__).resolve().parent
    order = daemon_order(lane)
    results, checks, tries, attached, exim4 = load(out)
    modes = [m for m in MODES if any(k[1] == m for k in results)]
    per_daemon = {m: {d: r for (d, mm), r in results.items() if mm == m}
                  for m in ("attach-fix", "trial")}
    meta = {}
    if (out / "meta.json").exists():
        meta = json.loads((out / "meta.json").read_text())

    w = print
    w("# capcheck real-systemd lane")
    w()
    if meta:
        for key in ("capcheck", "checkout", "rootfs", "started", "timings", "vm hangs", "only"):
            if meta.get(key):
                w(f"- {key}: {meta[key]}")
        w()
    # A run with --only has only those; the record mode leaves out the
    # daemons daemons.tsv does not mark, unless named with --only.
    only = set(filter(None, meta.get("only", "").split(",")))
    expected = {
        d: [m for m in modes if m != "record" or order[d] == "yes" or d in only]
        for d in order
        if not only or d in only
    }
    missing = [d for d in expected if expected[d] and not any((d, m) in results for m in modes)]
    if missing:
        w(f"**No result for: {', '.join(missing)}**")
        w()

    if modes:
        w("| mode | works | broken (worked as shipped) | changed by capcheck | errors |")
        w("|---|---|---|---|---|")
        for m in modes:
            rs = [r for (d, mm), r in results.items() if mm == m]
            ok = sum(1 for r in rs if r.get("works_after") is True)
            broken = sum(1 for r in rs if works(r) == "BROKEN")
            changed = sum(1 for r in rs if r.get("changed"))
            errors = sum(1 for r in rs if r.get("error"))
            w(f"| {m} | {ok}/{len(rs)} | {broken if m != 'shipped' else '—'} | "
              f"{changed if m != 'shipped' else '—'} | {errors} |")
        w()
        w("Each cell: whether the probe passed, whether `capcheck fix --write` changed "
          "anything, and `systemd-analyze security` exposure (before→after).")
        w()
        w("| daemon | unit | " + " | ".join(modes) + " |")
        w("|---|---|" + "---|" * len(modes))
        for d in order:
            rs = [results.get((d, m)) for m in modes]
            if all(r is None for r in rs):
                continue
            unit = next(r["unit"] for r in rs if r)
            w(f"| {d} | {unit} | " + " | ".join(cell(r) for r in rs) + " |")
        w()

        for m in modes:
            if m == "shipped":
                continue
            w(f"## Mode {m}: `capcheck fix --write{FLAGS[m]}`")
            w()
            w("| daemon | fix | what changed | works | exposure | uid / CapEff after | note |")
            w("|---|---|---|---|---|---|---|")
            for d in order:
                r = results.get((d, m))
                if r is None:
                    continue
                what = changes(r.get("diff")) if r.get("changed") else "nothing"
                w(f"| {d} | {kind(r)} | {what} | {works(r)} | "
                  f"{exposure(r)} | {ids(r)} | {note(r)} |")
            w()
            if m == "record":
                w("### Who each daemon runs as, before and after, and why")
                w()
                w("| daemon | uid before | after: User= / uid | run as a user (record) | why | "
                  "ProtectSystem / ProtectHome / PrivateTmp after | exposure | works |")
                w("|---|---|---|---|---|---|---|---|")
                for d in order:
                    r = results.get((d, m))
                    if r is None:
                        continue
                    run = r.get("deroot_run") or {}
                    tried = ("works" if run.get("works") else f"failed: {short(run.get('outcome'), 40)}") \
                        if run else "not run"
                    after = f"{r.get('user_after') or '—'} / {r.get('uid_after')}"
                    protect = " / ".join(str(r.get(k) or "—") for k in
                                         ("protect_system_after", "protect_home_after", "private_tmp_after"))
                    w(f"| {d} | {r.get('uid_before')} | {after} | {tried} | "
                      f"{short(r.get('fix_identity'), 160)} | {protect} | {exposure(r)} | {works(r)} |")
                w()
                w("### The recorded profiles (`capcheck record --unit UNIT --probe PROBE --timeout 25s`)")
                w()
                w("| daemon | exit | succeeded | identity | needed (granted) | only denied | outcome | note |")
                w("|---|---|---|---|---|---|---|---|")
                for d in order:
                    r = results.get((d, m))
                    if r is None:
                        continue
                    rec = recording(r)
                    who = rec.get("user") or rec.get("identity") or ""
                    w(f"| {d} | {r.get('record_exit')} | {rec.get('succeeded')} | {who} | "
                      f"{caps(r.get('profile_needed'))} | {caps(r.get('profile_possibly'))} | "
                      f"{short(rec.get('outcome'), 60)} | {short(r.get('record_notes') or '', 60)} |")
                w()

    per_daemon_tables = [
        ("trial", "`capcheck try --profile NAME.toml --keep` (each recorded daemon, as shipped)",
         ["exit", "seconds", "plan kept", "works after", "User= / uid after", "exposure"],
         lambda r: [r.get("try_exit"), r.get("try_seconds"), r.get("kept") or "nothing", works(r),
                    f"{r.get('user_after') or '—'} / {r.get('uid_after')}", exposure(r)]),
        ("attach-fix", "`record --attach --duration 8s` under a probe loop, then `fix --write --profile` (default mode)",
         ["record exit", "seconds", "fix exit", "changed", "works after"],
         lambda r: [r.get("record_exit"), r.get("record_seconds"), r.get("fix_exit"),
                    "yes" if r.get("changed") else "no", works(r)]),
    ]
    for mode, title, columns, cells in per_daemon_tables:
        if not per_daemon[mode]:
            continue
        w(f"## {title}")
        w()
        w("| daemon | " + " | ".join(columns) + " |")
        w("|---|" + "---|" * len(columns))
        for d in order:
            r = per_daemon[mode].get(d)
            if r is not None:
                w(f"| {d} | " + " | ".join(str(c) for c in cells(r)) + " |")
        w()

    if tries:
        w("## `capcheck try` (nginx)")
        w()
        w("| scenario | command | exit | seconds | journal in output | works after | runtime drop-ins left | "
          "marker left | administrator's files intact | persistent drop-in | CapabilityBoundingSet after | exposure |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for name in ("broken", "hang", "admin", "second", "late", "killed-written", "killed-restart",
                     "killed-settle", "killed-rollback", "keep", "reboot"):
            r = tries.get(name)
            if r is None:
                continue
            if r.get("error"):
                w(f"| {name} | | | | | ERROR | | | | | | {short(r['error'])} |")
                continue
            bounding = bounding_set(r)
            code = "—" if r.get("try_exit") is None else r.get("try_exit")
            intact = r.get("admin_files_intact", r.get("admin_file_intact"))
            intact = "—" if intact is None else ("yes" if intact else "NO")
            w(f"| {name} | {short(r.get('command'), 80)} | {code} | {r.get('try_seconds') or '—'} | "
              f"{'yes' if r.get('journal_in_output') else 'no'} | {works(r)} | "
              f"{len(r.get('runtime_dropins_left') or [])} | {'yes' if r.get('marker_left') else 'no'} | "
              f"{intact} | {'yes' if r.get('persistent_dropin_exists') else 'no'} | {bounding} | {exposure(r)} |")
        w()

    if attached:
        w("## `capcheck record --attach` (running daemons, under load)")
        w()
        w("| daemon | exit | succeeded | identity | needed (granted) | only denied | reload while recorded | "
          "same run after | works after | capcheck left | tracing left |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        for d, r in attached.items():
            if r.get("error"):
                w(f"| {d} | ERROR: {short(r['error'])} | | | | | | | | | |")
                continue
            rec = recording(r)
            who = f"{rec.get('identity', '')} {rec.get('user', '')}".strip()
            left = (r.get("tracing_instances_left") or "") + (r.get("kprobes_left") or "")
            w(f"| {d} | {r.get('record_exit')} | {rec.get('succeeded')} | {who} | "
              f"{caps(r.get('profile_needed'))} | {caps(r.get('profile_possibly'))} | "
              f"{'yes' if r.get('reloaded') else 'no'} | {r.get('same_run')} | {works(r)} | "
              f"{short(r.get('capcheck_left')) or 'none'} | {short(left) or 'none'} |")
        w()

    if exim4:
        w("## exim4: a unit systemd-sysv-generator writes (`--modes exim4`)")
        w()
        w("| step | works | state | what ran | exit | CapabilityBoundingSet | NoNewPrivileges | "
          "drop-ins in force | generated unit | exposure |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        ran = {"shipped": "capcheck lint", "record": "capcheck record --unit exim4.service",
               "try": "capcheck try --profile", "try-rollback": "capcheck try --rollback",
               "fix": "capcheck fix --write --profile; daemon-reload; restart",
               "fix-reloaded": "daemon-reload; restart", "reboot": "(reboot)"}
        for step in ("shipped", "record", "try", "try-rollback", "fix", "fix-reloaded", "reboot"):
            r = exim4.get(step)
            if r is None:
                continue
            if r.get("error"):
                w(f"| {step} | ERROR | | | | | | | | {short(r['error'])} |")
                continue
            code = next((r[k] for k in ("lint_exit", "record_exit", "try_exit", "fix_exit")
                         if r.get(k) is not None), "")
            bounding = bounding_set(r)
            generated = "unchanged" if r.get("generated_sha256") == r.get(
                "generated_sha256_before", r.get("generated_sha256")) else "CHANGED"
            w(f"| {step} | {works(r)} | {short(r.get('state_after'), 30)} | {ran.get(step, '')} | "
              f"{code} | {bounding} | {r.get('no_new_privileges_after')} | "
              f"{short(r.get('dropin_paths'), 60) or 'none'} | {generated} | {exposure(r)} |")
        w()
        rec = exim4.get("record") or {}
        if rec.get("profile_needed") is not None:
            w(f"Recorded (needed): {caps(rec.get('profile_needed'))}; outcome: "
              f"{short((rec.get('recording') or {}).get('outcome'), 120)}")
            w()

    if checks:
        w("## Probe check: each probe with its daemon up, then stopped")
        w()
        w("| daemon | up | stopped | verdict | probe output with the daemon stopped |")
        w("|---|---|---|---|---|")
        for d in order:
            c = checks.get(d)
            if c is None:
                continue
            if c.get("error"):
                w(f"| {d} | | | ERROR | {short(c['error'])} |")
                continue
            good = c.get("works_up") is True and c.get("works_down") is False
            w(f"| {d} | {'passes' if c.get('works_up') else 'FAILS'} | "
              f"{'passes' if c.get('works_down') else 'fails'} | {'sound' if good else 'UNSOUND'} | "
              f"{short(c.get('probe_down'), 100)} |")
        w()

    failures = [(d, m) for d in order for m in modes
                if (d, m) in results and results[(d, m)].get("works_after") is not True]
    if failures:
        w("## Failures")
        for d, m in failures:
            r = results[(d, m)]
            w()
            w(f"### {d} — {m}: {works(r)}")
            w()
            if r.get("error"):
                w(f"- error: {r['error']}")
            w(f"- state after: {r.get('state_after', '')}")
            w(f"- probe: {short(r.get('probe_after'), 300)}")
            if r.get("mode") != "shipped":
                w(f"- capcheck: exit {r.get('fix_exit')}, {kind(r) or 'no kind'}; "
                  f"{short(r.get('fix_notes'), 300)}")
                w(f"- after: User={r.get('user_after') or ''} uid={r.get('uid_after')} "
                  f"CapEff={r.get('capeff_after')} NoNewPrivileges={r.get('no_new_privileges_after')}")
            if r.get("diff"):
                w()
                w("```diff")
                w(r["diff"].rstrip())
                w("```")
            if r.get("journal"):
                w()
                w("```")
                w(r["journal"].rstrip())
                w("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
