//! Capability checks recorded by other tools, turned into observations:
//! Tetragon's `process_kprobe` events (the `creds-capability-usage`
//! policy) and the output of bcc/libbpf-tools `capable`.

use super::trace::Observed;
use std::collections::BTreeMap;

/// A capability number the kernel knows (0..=LAST_CAP), or an error
/// naming the line (1-based) it was on.
fn capability_number(cap: u64, line: usize) -> Result<u8, String> {
    u8::try_from(cap)
        .ok()
        .filter(|c| *c <= crate::caps::LAST_CAP)
        .ok_or_else(|| {
            format!(
                "line {line}: capability {cap} out of range (0-{})",
                crate::caps::LAST_CAP
            )
        })
}

/// Observations from Tetragon JSON events (one per line, as `tetra
/// getevents -o json` prints them). Events other than `cap_capable`
/// kprobes are skipped; the capability number is trusted over its name.
pub fn tetragon(text: &str) -> Result<BTreeMap<u8, Observed>, String> {
    let mut out: BTreeMap<u8, Observed> = BTreeMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let event: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let Some(kprobe) = event.get("process_kprobe") else {
            continue;
        };
        if kprobe["function_name"] != "cap_capable" {
            continue;
        }
        let cap = kprobe["args"]
            .as_array()
            .and_then(|args| {
                args.iter()
                    .find_map(|a| a["capability_arg"]["value"].as_u64())
            })
            .ok_or_else(|| format!("line {}: a cap_capable event without capability_arg", i + 1))?;
        let cap = capability_number(cap, i + 1)?;
        let granted = kprobe["return"]["int_arg"].as_i64().unwrap_or(0) == 0;
        let o = out.entry(cap).or_default();
        if granted {
            o.granted += 1;
        } else {
            o.denied += 1;
        }
        if let Some(binary) = kprobe["process"]["binary"].as_str() {
            o.binaries.insert(binary.to_string());
        }
    }
    Ok(out)
}

/// Observations from `capable` output (bcc `capable.py` or libbpf-tools
/// `capable`): columns found by the header (`TIME UID PID [TID] COMM CAP
/// NAME AUDIT [VERDICT] [INSETID]`). Non-audit checks (AUDIT 0) are the
/// kernel probing and are skipped; without a VERDICT column every check
/// counts as granted.
pub fn capable(text: &str) -> Result<BTreeMap<u8, Observed>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or("empty capable output")?;
    let columns: Vec<&str> = header.split_whitespace().collect();
    let col = |name: &str| columns.iter().position(|c| *c == name);
    let (cap_col, comm_col) = (
        col("CAP").ok_or("no CAP column in the header")?,
        col("COMM").ok_or("no COMM column")?,
    );
    let (audit_col, verdict_col) = (col("AUDIT"), col("VERDICT"));
    let mut out: BTreeMap<u8, Observed> = BTreeMap::new();
    for (i, line) in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // COMM may hold spaces: count the columns after it from the end.
        let shift = fields.len().saturating_sub(columns.len());
        let at = |c: usize| {
            if c > comm_col {
                fields.get(c + shift)
            } else {
                fields.get(c)
            }
        };
        let cap: u64 = at(cap_col)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("line {}: no capability number", i + 1))?;
        let cap = capability_number(cap, i + 1)?;
        if audit_col.and_then(at).is_some_and(|a| *a == "0") {
            continue;
        }
        let granted = verdict_col.and_then(at).is_none_or(|v| *v == "allow");
        let o = out.entry(cap).or_default();
        if granted {
            o.granted += 1;
        } else {
            o.denied += 1;
        }
        let comm = fields[comm_col..=comm_col + shift].join(" ");
        o.binaries.insert(comm);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/fixtures/imports/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn tetragon_events() {
        let o = tetragon(&fixture("tetragon.jsonl")).unwrap();
        assert_eq!(o.keys().copied().collect::<Vec<_>>(), [1, 10, 34]);
        assert_eq!((o[&10].granted, o[&34].denied), (2, 1));
        assert_eq!(
            o[&1].binaries.iter().collect::<Vec<_>>(),
            ["/usr/sbin/nginx"],
            "value 1 despite the name DAC_OVERRIDE"
        );
        assert!(tetragon("{not json").is_err());
    }

    #[test]
    fn capable_output() {
        let o = capable(&fixture("capable-libbpf.txt")).unwrap();
        assert_eq!(
            o.keys().copied().collect::<Vec<_>>(),
            [10, 12, 13],
            "the non-audit SYS_ADMIN probe is skipped"
        );
        assert_eq!((o[&13].granted, o[&13].denied), (0, 1));
        assert!(o[&12].binaries.contains("nginx worker"));
        let bcc = capable(&fixture("capable-bcc.txt")).unwrap();
        assert_eq!((bcc[&12].granted, bcc[&24].granted), (1, 1));
        let header = "TIME UID PID COMM CAP NAME AUDIT\n";
        for (cap, line) in [("41", "3"), ("200", "2")] {
            let text = if line == "3" {
                format!(
                    "{header}10:00:00 0 1 a 10 CAP_NET_BIND_SERVICE 1\n10:00:01 0 1 a {cap} X 1\n"
                )
            } else {
                format!("{header}10:00:00 0 1 a {cap} X 1\n")
            };
            let e = capable(&text).unwrap_err();
            assert_eq!(
                e,
                format!("line {line}: capability {cap} out of range (0-40)")
            );
        }
    }
}
