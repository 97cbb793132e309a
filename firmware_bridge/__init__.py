"""firmware_bridge: from bytes on a USB serial port to time-stamped sample blocks.

Modules, from the wire up: `codec` (frames and messages), `clocksync` (MCU
clock -> host time), `device` (one device's streams, losses and sample
blocks; pure), `transport` (non-blocking serial port), `link` (identify,
synchronise, reconnect, statistics), `virtual` (MCUs on a pty, no hardware).
"""
