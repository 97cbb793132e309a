"""The contract between the Stridesync service and the athlete's cue device.

One definition, imported by both: the service (service/cues/) publishes by it,
the device (this package) subscribes and plays by it, and the Pi's broker ACL
(deploy/install.sh) grants by the same scheme. Topics, QoS and payloads are
documented in docs/cues.md. Standard library only: the device runs on a Pi Zero.
"""

from __future__ import annotations

import sys

ROOT = "stridesync"
PAYLOAD_VERSION = 1  # the "v" of a cue message; a device ignores no field it does not know

# The sounds a cue may name, and the words a device speaks for them ("swing" is the
# late swing: the thigh not through in time).
LIMITER_WORDS = {"push": "push", "swing": "swing late", "torso": "torso"}
WORDS = {**LIMITER_WORDS, "aligned": "aligned"}
SOUNDS = (*WORDS, "summary")


def node_topics(node: str) -> dict[str, str]:
    """What a service node (a Pi) publishes; `{athlete}` is filled per message."""
    base = f"{ROOT}/{node}"
    return {
        "status": f"{base}/status",
        "sessions": f"{base}/sessions",  # started and stopped, for a club's centre
        "cue": base + "/athletes/{athlete}/cue",
        "steps": base + "/athletes/{athlete}/steps",
        "reps": base + "/athletes/{athlete}/reps",
    }


def cue_topic(athlete: int | str, node: str = "+") -> str:
    """The athlete's cues from one node, or from any node (`+`, the device's default)."""
    return node_topics(node)["cue"].format(athlete=athlete)


def device_status_topic(athlete: int | str) -> str:
    """The cue device's own retained online/offline status, with its last will."""
    return f"{ROOT}/cue-devices/{athlete}/status"


def device_acl(athlete: int | str) -> list[str]:
    """The broker ACL lines of athlete `athlete`'s cue device (user cue-<athlete>)."""
    return [
        f"user cue-{athlete}",
        f"topic read {cue_topic(athlete)}",
        f"topic readwrite {ROOT}/cue-devices/{athlete}/#",
    ]


def main(argv: list[str]) -> int:
    """`python -m stridesync_cue.contract acl N`: the ACL of cue devices 1..N, for the
    Pi's installer (deploy/install.sh), so the broker grants by this same scheme."""
    if len(argv) != 2 or argv[0] != "acl" or not argv[1].isdigit():
        print("usage: python -m stridesync_cue.contract acl N", file=sys.stderr)
        return 2
    for athlete in range(1, int(argv[1]) + 1):
        print("\n" + "\n".join(device_acl(athlete)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
