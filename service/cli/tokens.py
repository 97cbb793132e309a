"""`stridesync token`: a new access token, and the hash that goes in the config."""

from __future__ import annotations

from ..config import hash_token, new_token


def add_arguments(_name: str, tok) -> None:
    tok.add_argument("--role", choices=["admin", "viewer"], default="admin")
    tok.set_defaults(run=token)


def token(args) -> int:
    secret = new_token()
    key = "admin_token_hashes" if args.role == "admin" else "viewer_token_hashes"
    print(f"{args.role} token (give it to whoever needs it; it is not stored): {secret}")
    print("add its hash to the config file, section [auth]:")
    print(f'  {key} = ["{hash_token(secret)}"]')
    return 0
