"""A page that joins late gets the session's last messages in its hello, encoded once
as they passed (service/live/journal.py) and spliced into the hello's text
(service/hub.py, encode): the same JSON as encoding them again."""

import json
import math

from service.engine.events import Step
from service.hub import SCHEMA_VERSION, RawJson, clean, encode
from service.live.journal import MESSAGES, Journal


def test_the_hello_carries_the_last_messages_as_if_encoded_again():
    journal = Journal()
    sent = [
        {"type": "trace", "series": [1.0]},  # not kept: not a session message
        Step(
            type="step",
            n=1,
            foot="left",
            ic_time_s=1.5,
            to_time_s=1.6,
            contact_time_s=math.nan,
            source="imu",
            model_version="0.5",
        ),
        {"type": "mark", "label": 'a "quoted" \\ label', "time_s": 2.0},
        {"type": "rep", "rep": 1, "steps": 12, "main_limiter": None},
    ]
    for msg in sent:
        journal.note(msg)
    hello = {"type": "hello", "role": "viewer", "lag_s": math.inf}
    text = encode({**hello, "snapshot": RawJson(journal.snapshot_json(7))}, seq=41)
    got = json.loads(text)
    assert got == {
        "v": SCHEMA_VERSION, "seq": 41, **clean(hello),
        "snapshot": {"messages": [clean(m) for m in sent[1:]], "steps": 7},
    }  # fmt: skip
    assert got["snapshot"]["messages"][0]["contact_time_s"] is None  # NaN: null, as live
    assert json.loads(encode({**hello, "snapshot": None}, seq=1))["snapshot"] is None


def test_the_journal_keeps_the_last_messages_only():
    journal = Journal()
    for n in range(MESSAGES + 5):
        journal.note({"type": "step", "n": n})
    messages = json.loads(journal.snapshot_json(0))["messages"]
    assert [m["n"] for m in messages] == list(range(5, MESSAGES + 5))
    journal.clear()
    assert json.loads(journal.snapshot_json(0)) == {"messages": [], "steps": 0}
