"""Schemathesis against the service's own OpenAPI: no input makes a 5xx.

Cases are generated from the schema, valid and invalid, with the admin token
(so they reach the handlers, not just the access check), against a real
`stridesync serve` process holding an athlete and a recorded session."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from service import config
from service.api import create_app
from tests.service_helpers import ADMIN, Service, free_port, write_config

pytestmark = pytest.mark.timeout(300)

SPEC = create_app(config.load(None, devices={"ports": []})).openapi()
LABELS = [r.ok().label for r in schemathesis.openapi.from_dict(SPEC).get_all_operations()]
# Negative cases need something to get wrong: parameters or a body.
WITH_INPUT = {
    f"{method.upper()} {path}"
    for path, item in SPEC["paths"].items()
    for method, op in item.items()
    if op.get("parameters") or op.get("requestBody")
}
CASES = [(label, GenerationMode.POSITIVE) for label in LABELS] + [
    (label, GenerationMode.NEGATIVE) for label in LABELS if label in WITH_INPUT
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    cfg = write_config(tmp / "cfg.toml", f"sqlite+aiosqlite:///{tmp}/fuzz.db", [], port)
    svc = Service(cfg, port, tmp / "log")
    try:
        with svc.client() as c:
            a = c.post("/api/athletes", json={"name": "Fuzz", "body_mass_kg": 70}).json()
            s = c.post("/api/sessions", json={"athlete_id": a["id"]}).json()
            c.post(f"/api/sessions/{s['id']}/stop")
        yield svc
    finally:
        svc.close()


def test_every_operation_is_fuzzed():
    assert len(LABELS) >= 15


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_no_input_makes_a_server_error(server, label, mode):
    op = schemathesis.openapi.from_dict(SPEC).find_operation_by_label(label)

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call(
            base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
        )
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} {case.query} {case.body!r}"
            f" -> {response.status_code} {response.text[:300]}"
        )
        if response.status_code >= 400:  # a clear message, as text
            assert isinstance(response.json()["detail"], str), response.text[:300]

    run()
