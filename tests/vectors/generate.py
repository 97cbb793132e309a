"""Regenerate the "frame" of every vector in vectors.json from its "message".

Run this only when the protocol changes on purpose (and bump its version):
the committed frames are what both the Python codec and the C encoder are
tested against, so regenerating them hides any accidental change.

    python -m tests.vectors.generate
"""

import json

from firmware_bridge.codec import encode_frame
from tests.helpers import VECTORS, message_from_json


def main() -> None:
    doc = json.loads(VECTORS.read_text())
    for v in doc["vectors"]:
        v["frame"] = encode_frame(message_from_json(v["message"])).hex()
    VECTORS.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
