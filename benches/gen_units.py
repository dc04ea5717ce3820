#!/usr/bin/env python3
"""Writes N generated service units (a third with a drop-in) under DIR, for
the benchmark: a mix of users, capability lines, NoNewPrivileges= and
Exec prefixes, like the corpus but many more. Deterministic (seeded)."""
import os
import random
import sys

def main():
    count, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(252)
    caps = ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_CHOWN", "CAP_SYS_TIME", "CAP_DAC_OVERRIDE", "CAP_SETUID", "CAP_SYS_ADMIN", "CAP_KILL"]
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        sub = os.path.join(out, f"d{i // 1000:03d}")
        os.makedirs(sub, exist_ok=True)
        name = f"gen{i:06d}.service"
        lines = ["[Unit]", f"Description=generated unit {i}", "", "[Service]"]
        prefix = rnd.choice(["", "", "", "-", "+", "!"])
        lines.append(f"ExecStart={prefix}/usr/bin/daemon{i % 50} --port {rnd.choice([80, 443, 8080, 9100])}")
        if rnd.random() < 0.6:
            lines.append(f"User={rnd.choice(['app', 'root', 'nobody', 'www-data'])}")
        for _ in range(rnd.randrange(3)):
            chosen = " ".join(rnd.sample(caps, rnd.randrange(1, 3)))
            lines.append(f"CapabilityBoundingSet={rnd.choice(['', '~'])}{chosen}")
        if rnd.random() < 0.3:
            lines.append(f"AmbientCapabilities={rnd.choice(caps)}")
        if rnd.random() < 0.5:
            lines.append(f"NoNewPrivileges={rnd.choice(['yes', 'no'])}")
        lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
        with open(os.path.join(sub, name), "w") as f:
            f.write("\n".join(lines))
        if i % 3 == 0:
            os.makedirs(os.path.join(sub, name + ".d"), exist_ok=True)
            with open(os.path.join(sub, name + ".d", "10-override.conf"), "w") as f:
                f.write(f"[Service]\nUser={rnd.choice(['app', 'svc'])}\nNoNewPrivileges=yes\n")

if __name__ == "__main__":
    main()
