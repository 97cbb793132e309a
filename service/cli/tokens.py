"""`stridesync token`: a new access token, and the hash that goes in the config."""

from __future__ import annotations

from ..config import hash_token, new_token
from .common import UsageError


def add_arguments(_name: str, tok) -> None:
    tok.add_argument("--role", choices=["admin", "viewer", "lane"], default="admin")
    tok.add_argument("--lane", help="with --role lane: the lane's name (its [mqtt] node)")
    tok.set_defaults(run=token)


def token(args) -> int:
    secret = new_token()
    if args.role == "lane":
        if not args.lane:
            raise UsageError("--role lane needs --lane NAME")
        print(f"lane token (the lane's [club] token or token_file): {secret}")
        print("add its hash to the centre's config file, section [club]:")
        print(f'  node_token_hashes = {{ "{args.lane}" = "{hash_token(secret)}" }}')
        return 0
    key = "admin_token_hashes" if args.role == "admin" else "viewer_token_hashes"
    print(f"{args.role} token (give it to whoever needs it; it is not stored): {secret}")
    print("add its hash to the config file, section [auth]:")
    print(f'  {key} = ["{hash_token(secret)}"]')
    return 0
