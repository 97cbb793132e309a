"""`stridesync devices`: find the serial ports, identify each Stridesync device, name it."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from serial.tools import list_ports

from firmware_bridge import link
from firmware_bridge.codec import SensorKind

KIND_WORDS = {
    SensorKind.FORCE_3AXIS: "3-axis force",
    SensorKind.FORCE_VERTICAL: "vertical force",
    SensorKind.IMU_6AXIS: "IMU",
    SensorKind.SPEED: "speed",
}


def add_arguments(_name: str, d) -> None:
    d.add_argument("ports", nargs="*", help="ports to identify (default: every serial port)")
    d.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for a hello")
    d.add_argument("--json", action="store_true", help="one JSON object per port")
    d.add_argument(
        "--udev",
        action="store_true",
        help="print udev rules giving each device a stable name, /dev/stridesync/NAME",
    )
    d.set_defaults(run=lambda args: asyncio.run(devices(args)))


async def devices(args) -> int:
    explicit = bool(args.ports)
    ports = args.ports or _all_serial_ports()
    if not ports:
        print("no serial ports found")
        return 0
    results = await asyncio.gather(
        *(link.identify_port(p, args.timeout) for p in ports), return_exceptions=True
    )
    failed = False
    for port, res in zip(ports, results, strict=True):
        if isinstance(res, BaseException) and not isinstance(res, link.error):
            raise res
        if isinstance(res, link.error):
            failed = True
            if args.json:
                print(json.dumps({"port": port, "error": str(res)}))
            else:
                print(f"stridesync: error: {res}", file=sys.stderr if explicit else sys.stdout)
            continue
        if args.udev:
            print(udev_rule(port, res.name, _usb_info(port)))
        else:
            print(json.dumps(hello_json(port, res)) if args.json else hello_line(port, res))
    return 1 if failed and explicit else 0


def _usb_info(port: str) -> dict | None:
    """USB vendor, product and serial number of a port, from pyserial's port list."""
    real = os.path.realpath(port)
    for p in list_ports.comports():
        if os.path.realpath(p.device) == real and p.vid is not None:
            return {"vid": p.vid, "pid": p.pid, "serial": p.serial_number}
    return None


def udev_rule(port: str, name: str, usb: dict | None) -> str:
    """The udev rule naming this device /dev/stridesync/NAME, by its USB serial number."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name) or "sensor"
    if usb is None or not usb.get("serial"):
        why = "not a USB device" if usb is None else "its USB interface has no serial number"
        return f"# {port}: {name}: {why}; no stable name possible"
    return (  # udev allows comments only on lines of their own
        f"# {name}, now on {port}\n"
        f'SUBSYSTEM=="tty", ATTRS{{idVendor}}=="{usb["vid"]:04x}",'
        f' ATTRS{{idProduct}}=="{usb["pid"]:04x}", ATTRS{{serial}}=="{usb["serial"]}",'
        f' SYMLINK+="stridesync/{safe}", GROUP="dialout", MODE="0660"'
    )


def _all_serial_ports() -> list[str]:
    ports = [p.device for p in list_ports.comports()]
    return sorted(set(ports) | set(link.Bridge(link.DEFAULT_PORTS).candidate_ports()))


def hello_json(port: str, hello) -> dict:
    return {
        "port": port,
        "device_id": hello.device_hex,
        "name": hello.name,
        "firmware": ".".join(map(str, hello.firmware)),
        "streams": [
            {
                "stream_id": s.stream_id,
                "kind": s.kind.name.lower(),
                "placement": s.placement.name.lower(),
                "index": s.index,
                "sample_rate_hz": s.sample_rate_hz,
                "channels": [c.label for c in s.channels],
            }
            for s in hello.streams
        ],
    }


def hello_line(port: str, hello) -> str:
    streams = "; ".join(
        f"{KIND_WORDS[s.kind]} on {s.placement.name.lower().replace('_', ' ')}"
        f" at {s.sample_rate_hz:g} Hz ({', '.join(c.label for c in s.channels)})"
        for s in hello.streams
    )
    fw = ".".join(map(str, hello.firmware))
    return f"{port}: {hello.name} [{hello.device_hex}] firmware {fw}: {streams}"
