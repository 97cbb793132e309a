"""The root of every error Stridesync raises on purpose.

Each module names its own (`firmware_bridge.link.error`, `service.config.error`, ...)
as a subclass of `StridesyncError`, whose message is one line meant for the user as
it is: the command line catches this one class and prints it without a traceback
(service/cli). It lives here, in the lowest package, so that the serial stack and the
service share it; the cue device's package stays installable alone, with its own.
"""


class StridesyncError(Exception):
    """A problem the user can fix, or must be told of: its message is one line."""
