"""`stridesync central` (the club's centre) and `stridesync club` (its Mosquitto
configuration): docs/club.md."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from ..club import brokers
from .common import UsageError, run
from .serve import log_setup, serve, serve_arguments, settings_from


def add_arguments(name: str, p) -> None:
    if name == "central":
        serve_arguments(p)
        p.set_defaults(run=central_command)
        return
    sub = p.add_subparsers(dest="what", required=True)
    b = sub.add_parser("lane-bridge", help="a lane's bridge to the centre (mosquitto.conf lines)")
    b.add_argument("--lane", required=True, help="the lane's name: its [mqtt] node")
    b.add_argument("--central", required=True, metavar="HOST:PORT", help="the central broker")
    b.add_argument("--password-file", required=True, help="the lane's password at the centre")
    b.add_argument("--ca-file", help="the central broker's CA certificate (TLS)")
    sub.add_parser("centre-acl", help="the central broker's ACL")
    c = sub.add_parser("centre-broker", help="the central broker's mosquitto.conf")
    c.add_argument("--port", type=int, default=8883)
    c.add_argument("--password-file", default="/etc/mosquitto/club.passwd")
    c.add_argument("--acl-file", default="/etc/mosquitto/club.acl")
    c.add_argument("--tls", nargs=3, metavar=("CA", "CERT", "KEY"), help="PEM files (TLS)")
    c.add_argument("--persistence-dir", help="where it keeps its queues across restarts")
    p.set_defaults(run=club_command)


def club_command(args) -> int:
    if args.what == "centre-acl":
        print(brokers.centre_acl(), end="")
        return 0
    if args.what == "centre-broker":
        conf = brokers.centre_broker(
            args.port, args.password_file, args.acl_file,
            tls=tuple(args.tls) if args.tls else None, persistence_dir=args.persistence_dir,
        )  # fmt: skip
        print(conf, end="")
        return 0
    try:
        password = Path(args.password_file).read_text().strip()
    except OSError as exc:
        raise UsageError(f"{args.password_file}: {exc.strerror}") from None
    print(brokers.lane_bridge(args.lane, args.central, password, ca_file=args.ca_file), end="")
    return 0


def central_command(args) -> int:
    """`serve` in the central role: no sensors, PostgreSQL, every lane's topics."""

    settings = settings_from(args, club={"role": "central"}, devices={"ports": []})
    log_setup(settings.log_level, args.verbose)
    if make_url(settings.database.url).get_backend_name() != "postgresql":
        raise UsageError("the centre keeps the club's sessions in PostgreSQL: database.url")
    if not settings.mqtt.broker:
        raise UsageError("the centre needs the central broker: [mqtt] broker (or --mqtt)")
    if not (settings.auth.admin_token_hashes or settings.token):
        raise UsageError("the centre needs access tokens: [auth] (stridesync token)")
    return run(serve(settings))
