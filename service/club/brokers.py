"""Mosquitto configuration for a club (docs/club.md): each lane's bridge to the
central broker, and the central broker's listener and ACL. Printed by
`stridesync club`, written by the installer, and used by the tests, so what is
tested is what a club installs.

The lane's bridge carries the lane's status, sessions, steps and reps (not the
athletes' cues) out at QoS 1 with persistent
sessions on both sides (`cleansession false`): while the club link is down the
lane's broker queues the lane's messages (up to `QUEUE_MESSAGES`; with
`persistence true`, across its own restarts too) and sends them when the link is
back; the centre merges repeats by key. The central ACL lets a lane's user (its
name) write only `stridesync/<its name>/#`, and the centre's user read all.
"""

from __future__ import annotations

# Messages a lane's broker keeps per disconnected client (the bridge among them).
# A lane sends ~1 message a step (~1.2 KB, bench club): 100 000 is ~5 h of
# sprinting without a pause (5 steps a second), ~19 h of an ordinary session, and
# ~120 MB in the broker's memory at the worst; then the oldest are dropped (the
# session's upload still brings every step: docs/club.md, "Limits").
QUEUE_MESSAGES = 100_000
CENTRE_USER = "centre"
CLUB_TOPICS = ("status", "sessions", "athletes/+/steps", "athletes/+/reps")


def lane_bridge(
    lane: str,
    central: str,
    password: str,
    *,
    ca_file: str | None = None,
    queue_messages: int = QUEUE_MESSAGES,
) -> str:
    """The lines a lane's mosquitto.conf needs to bridge to the centre (`central`:
    HOST:PORT; TLS when `ca_file` is given, the central broker's CA)."""
    lines = [
        "# Stridesync club bridge (docs/club.md): this lane's topics to the centre.",
        f"max_queued_messages {queue_messages}",
        f"connection club-{lane}",
        f"address {central}",
        "bridge_protocol_version mqttv311",
        f"remote_clientid stridesync-bridge-{lane}",
        f"remote_username {lane}",
        f"remote_password {password}",
        "cleansession false",
        "local_cleansession false",
        "try_private true",
        "notifications true",
        f"notification_topic stridesync/{lane}/link",
        "keepalive_interval 10",
        "restart_timeout 1 10",
        # What the centre takes (service/club/centre.py); the athletes' cues stay here.
        *(f"topic stridesync/{lane}/{t} out 1" for t in CLUB_TOPICS),
    ]
    if ca_file:
        lines += [f"bridge_cafile {ca_file}", "bridge_insecure false"]
    return "\n".join(lines) + "\n"


def centre_acl() -> str:
    """The central broker's ACL: lanes write their own topics, the centre reads all."""
    return (
        "# Stridesync club centre (docs/club.md).\n"
        f"user {CENTRE_USER}\n"
        "topic read stridesync/#\n\n"
        "# Every lane's bridge logs in with the lane's name and writes only its topics.\n"
        "pattern write stridesync/%u/#\n"
    )


def centre_broker(
    port: int,
    password_file: str,
    acl_file: str,
    *,
    tls: tuple[str, str, str] | None = None,
    persistence_dir: str | None = None,
    bind: str | None = None,
    queue_messages: int = QUEUE_MESSAGES,
) -> str:
    """The central broker's mosquitto.conf; `tls`: (CA, certificate, key) files."""
    lines = [
        "# Stridesync club centre broker (docs/club.md).",
        "per_listener_settings false",
        f"listener {port}" + (f" {bind}" if bind else ""),
        "allow_anonymous false",
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        f"max_queued_messages {queue_messages}",
        "set_tcp_nodelay true",
    ]
    if tls:
        ca, cert, key = tls
        lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}", "tls_version tlsv1.2"]
    if persistence_dir:
        lines += ["persistence true", f"persistence_location {persistence_dir}/"]
    return "\n".join(lines) + "\n"
