"""Configuration: file, environment and flags; bounds; unknown keys; secrets masked."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service import config


def test_defaults_are_safe():
    s = config.load(None)
    assert s.server.host == "127.0.0.1"  # nothing listens beyond the Pi unless told
    assert s.server.cors_origins == []
    assert s.database.url.startswith("sqlite+aiosqlite://")
    assert s.recording.chunk_s <= 1.0


def test_file_environment_and_flags_in_that_order(tmp_path, monkeypatch):
    f = tmp_path / "c.toml"
    f.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\n[live]\nqueue_size = 50\n')
    monkeypatch.setenv("STRIDESYNC_SERVER__PORT", "9100")
    s = config.load(f, live={"queue_size": 70})
    assert (s.server.host, s.server.port, s.live.queue_size) == ("0.0.0.0", 9100, 70)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[server]\nprot = 80\n", "server.prot: Extra inputs are not permitted"),
        ("[sever]\nport = 80\n", "sever: Extra inputs are not permitted"),
        ("[server]\nport = 0\n", "server.port: Input should be greater than or equal to 1"),
        ("[recording]\nchunk_s = 5\n", "recording.chunk_s: Input should be less than or equal"),
        ('[database]\nurl = "mysql://x"\n', "database.url: Value error, use sqlite+aiosqlite"),
        ('[auth]\nadmin_token_hashes = ["abc"]\n', "a token hash is 'sha256:'"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path, body, message):
    f = tmp_path / "c.toml"
    f.write_text(body)
    with pytest.raises(config.error) as exc:
        config.load(f)
    assert message in str(exc.value)
    assert str(f) in str(exc.value)


def test_missing_file():
    with pytest.raises(config.error, match="no such config file"):
        config.load("/nonexistent/stridesync.toml")


def test_token_is_hashed_and_masked(monkeypatch):
    monkeypatch.setenv("STRIDESYNC_TOKEN", "s3cret")
    s = config.load(None)
    assert s.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s) and s.effective()["token"] == "(set)"
    h = config.hash_token("s3cret")
    assert h.startswith("sha256:") and len(h) == 71
    assert config.new_token() != config.new_token()


def test_serve_with_a_bad_config_is_one_line(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[server]\nport = 99999\n")
    r = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--config", str(f)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "server.port: Input should be less than or equal to 65535" in r.stderr
    assert "Traceback" not in r.stderr


def test_serve_says_in_one_line_what_stops_it(tmp_path):
    import socket

    mqtt = tmp_path / "mqtt.toml"
    mqtt.write_text('[mqtt]\nbroker = "127.0.0.1:1883"\npassword_file = "/nonexistent/pw"\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for argv, message in (
            (["--database", "sqlite+aiosqlite:////proc/no/x.db"], "database /proc/no/x.db:"),
            (
                ["--port", str(port), "--database", f"sqlite+aiosqlite:///{tmp_path}/a.db"],
                f"cannot listen on 127.0.0.1:{port}: Address already in use",
            ),
            (
                ["--config", str(mqtt), "--database", f"sqlite+aiosqlite:///{tmp_path}/b.db"],
                "mqtt.password_file: No such file or directory: /nonexistent/pw",
            ),
        ):
            r = subprocess.run(
                [sys.executable, "-m", "service.cli", "serve", "--token", "t", *argv],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert r.returncode == 2, r.stderr
            assert f"stridesync: error: {message}" in r.stderr
            assert "Traceback" not in r.stderr


def test_the_commented_template_is_valid_and_says_every_key():
    from pathlib import Path

    template = Path(__file__).resolve().parent.parent / "deploy" / "stridesync.toml"
    s = config.load(template)
    assert s.database.url == "sqlite+aiosqlite:////var/lib/stridesync/stridesync.db"
    text = template.read_text()
    from pydantic import BaseModel

    for section, model in s:
        if isinstance(model, BaseModel):
            for key in type(model).model_fields:
                assert f"{key} =" in text, f"{section}.{key} missing from the template"
