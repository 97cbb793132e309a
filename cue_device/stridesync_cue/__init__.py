"""The athlete's cue device: subscribe to the athlete's cues over MQTT, drop what is
stale, play at once. A package of its own (standard library and aiomqtt only), so a
Pi Zero installs just this: `pip install stridesync-cue`, then `stridesync-cue`."""

__version__ = "0.1.0"
