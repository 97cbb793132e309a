"""Club mode: several lanes (Pis), one centre (docs/club.md).

A lane forwards its live steps, reps and session events through a Mosquitto
bridge (store-and-forward in the broker, not here) and uploads each finished
session, raw chunks included, to the centre over HTTP (`lane.py`). The centre
consumes every lane's topics into PostgreSQL (`centre.py`), takes the uploads
(`service/api/club.py`) and merges both by key (`service/store/ledger.py`), so a step or a
chunk delivered twice is kept once. `wire.py` is the one definition of what
crosses the club link; `brokers.py` writes the Mosquitto bridge and ACLs.
"""
