"""The reference C encoder, compiled here, against the same golden vectors."""

import shutil
import subprocess
from pathlib import Path

import pytest
from cobs import cobs

from firmware_bridge.codec import COMMAND_TYPES, MsgType
from tests.helpers import load_vectors

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware_bridge" / "firmware"
VECTORS = load_vectors()
CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (make test installs one)")


def c_float(x: float) -> str:
    return f"(float){x!r}"


def c_vector(i: int, v: dict) -> str:
    """C statements that build vector v with the reference encoder and print it."""
    m = v["message"]
    lines = []
    if m["type"] == "hello":
        for j, s in enumerate(m["streams"]):
            chans = ", ".join(
                f"{{SS_CH_{c['channel']}, {unit(c['unit'])}, {c_float(c['scale'])}, "
                f"{c_float(c['offset'])}}}"
                for c in s["channels"]
            )
            lines.append(f"static const ss_channel_t ch_{i}_{j}[] = {{{chans}}};")
        streams = ", ".join(
            f"{{{s['stream_id']}, SS_{s['kind']}, SS_PLACE_{s['placement']}, {s['index']}, "
            f"{round(s['sample_rate_hz'] * 1000)}u, SS_FORMAT_{s['sample_format']}, "
            f"{len(s['channels'])}, ch_{i}_{j}}}"
            for j, s in enumerate(m["streams"])
        )
        lines.append(f"static const ss_stream_t st_{i}[] = {{{streams}}};")
        fw = ", ".join(map(str, m["firmware"]))
        lines.append(
            f'{{ ss_hello_t h = {{0x{m["device_id"]}ull, {{{fw}}}, "{m["name"]}", '
            f"{len(m['streams'])}, st_{i}}}; n = ss_frame_hello(&h, buf, sizeof buf); }}"
        )
    elif m["type"] == "samples":
        bits = 16 if m["sample_format"] == "INT16" else 32
        flat = ", ".join(
            f"{x}" if x != -(2**31) else "INT32_MIN" for row in m["values"] for x in row
        )
        lines.append(f"static const int{bits}_t d_{i}[] = {{{flat}}};")
        lines.append(
            f"n = ss_frame_samples_i{bits}({m['stream_id']}, {m['first_sample']}u, "
            f"{m['overflow']}u, {m['mcu_time_us']}u, {len(m['values'])}, "
            f"{len(m['values'][0])}, d_{i}, buf, sizeof buf);"
        )
    elif m["type"] == "clock":
        lines.append(f"n = ss_frame_clock({m['token']}, {m['mcu_time_us']}u, buf, sizeof buf);")
    elif m["type"] == "ack":
        lines.append(
            f"n = ss_frame_ack(0x{MsgType[m['command']]:02x}, {m['token']}, "
            f"SS_ACK_{m['status']}, buf, sizeof buf);"
        )
    else:
        lines.append(
            f"{{ ss_command_t c = {{0x{MsgType[m['command']]:02x}, {m['token']}, "
            f"{m.get('stream_id', 255)}}}; n = ss_frame_command(&c, buf, sizeof buf); }}"
        )
    lines.append(f'print_hex("{v["name"]}", buf, n);')
    return "\n".join(lines)


def unit(name: str) -> str:
    return {"NEWTON": "SS_UNIT_N", "METRE": "SS_UNIT_M"}.get(name, f"SS_UNIT_{name}")


DRIVER = """
#include <stdio.h>
#include <string.h>
#include "stridesync_proto.h"

static void print_hex(const char *name, const uint8_t *b, size_t n) {
    size_t i;
    printf("%s ", name);
    for (i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\\n");
}

static size_t unhex(const char *s, uint8_t *out) {
    size_t n = 0;
    unsigned v;
    while (sscanf(s + 2 * n, "%2x", &v) == 1) out[n++] = (uint8_t)v;
    return n;
}

int main(void) {
    static uint8_t buf[2048], in[2048], dec[2048];
    static char line[8192];
    size_t n = 0;
    ss_cmd_decoder_t d;
    VECTORS
    /* stdin: "cobs HEX" lines to encode, "decode HEX" lines to decode, "cmd HEX" to parse */
    ss_cmd_decoder_init(&d);
    while (fgets(line, sizeof line, stdin)) {
        char *arg = strchr(line, ' ');
        size_t k, m;
        ss_command_t c;
        if (!arg) continue;
        *arg++ = 0;
        m = unhex(arg, in);
        if (!strcmp(line, "cobs")) {
            n = ss_cobs_encode(in, m, buf);
            print_hex("cobs", buf, n);
        } else if (!strcmp(line, "decode")) {
            n = ss_cobs_decode(in, m, dec, sizeof dec);
            print_hex("decode", dec, n);
        } else {
            for (k = 0; k < m; k++)
                if (ss_cmd_decoder_feed(&d, in[k], &c))
                    printf("cmd %02x %u %u\\n", c.type, c.token, c.stream_id);
            printf("bad %u\\n", (unsigned)d.bad_frames);
        }
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("firmware")
    body = "\n".join(c_vector(i, v) for i, v in enumerate(VECTORS))
    src = build / "driver.c"
    src.write_text(DRIVER.replace("VECTORS", body))
    exe = build / "driver"
    subprocess.run(
        [
            CC,
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-O2",
            f"-I{FIRMWARE}",
            str(src),
            str(FIRMWARE / "stridesync_proto.c"),
            "-o",
            str(exe),
        ],
        check=True,
    )
    return exe


def run(driver: Path, stdin: str = "") -> list[str]:
    out = subprocess.run([driver], input=stdin, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_c_encoder_matches_every_golden_frame(driver):
    got = dict(line.split(" ", 1) for line in run(driver)[: len(VECTORS)])
    for v in VECTORS:
        assert got[v["name"]] == v["frame"], v["name"]


def test_c_cobs_matches_python_at_block_boundaries(driver):
    cases = [bytes([1]) * n for n in (0, 1, 253, 254, 255, 508, 509)]
    cases += [b"\x00", b"\x00\x00", b"\x11\x00\x22", bytes(range(256)) * 2]
    lines = run(driver, "".join(f"cobs {c.hex()}\n" for c in cases))[len(VECTORS) :]
    assert [x.split(" ", 1)[1] if " " in x else "" for x in lines] == [
        cobs.encode(c).hex() for c in cases
    ]
    lines = run(driver, "".join(f"decode {cobs.encode(c).hex()}\n" for c in cases[1:]))
    decoded = [x.split(" ", 1)[1] if " " in x else "" for x in lines[len(VECTORS) :]]
    assert decoded == [c.hex() for c in cases[1:]]


def test_c_command_decoder_resyncs_after_garbage(driver):
    commands = [v for v in VECTORS if v["name"].startswith("cmd_")]
    stream = "13370000ff41" + "".join("deadbeef00" + v["frame"] for v in commands)
    lines = run(driver, f"cmd {stream}\n")[len(VECTORS) :]
    parsed = [x.split()[1:] for x in lines if x.startswith("cmd")]
    expected = [
        [
            f"{MsgType[v['message']['command']]:02x}",
            str(v["message"]["token"]),
            str(v["message"].get("stream_id", 255)),
        ]
        for v in commands
    ]
    assert parsed == expected
    # "1337" is one bad run; "ff41" runs into the first "deadbeef"; then one per command.
    assert lines[-1] == f"bad {1 + len(commands)}"
    assert {MsgType[v["message"]["command"]] for v in commands} == set(COMMAND_TYPES)
