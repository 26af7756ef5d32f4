"""The hot routes accept exactly what /openapi.json documents.

The generating routes are served by service.api.fastpath, not by the FastAPI endpoints whose
signatures make the document: these tests read every documented parameter's bounds and enum
values from the served document and probe the route at each boundary (the bound itself is
accepted, one step past it is a 422 naming the parameter), so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.fastpath import HotRoutes
from service.api.generate import GenerateRequest
from service.core.settings import Settings
from service.http.app import create_app

MAX_COUNT = 5  # not the default, so a document that ignores the setting shows
HOT = {
    ("post", "/generate"): "/generate?model=tiny",
    ("get", "/interpolate"): "/interpolate?model=tiny&seed_a=1&seed_b=2",
    ("get", "/models/{name}/images/{seed}.{format}"): "/models/tiny/images/{seed}.{format}",
}


@pytest.fixture(scope="module")
def client(prepared_models: Path) -> Iterator[TestClient]:
    settings = Settings(models_dir=prepared_models, default_model="tiny", max_count=MAX_COUNT)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def alternatives(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]


def request(client: TestClient, key: tuple[str, str], name: str, where: str, value: object) -> Any:
    """The operation's base request with one parameter set to ``value``."""
    method, _ = key
    url = HOT[key]
    path = {"seed": "3", "format": "png"}
    headers = {}
    if where == "path":
        path[name] = str(value)
    elif where == "header":
        headers[name] = str(value)
    else:
        url += ("&" if "?" in url else "?") + f"{name}={value}"
    url = url.format(**path)
    if method == "post":
        return client.post(url, json={"seed": 1}, headers=headers)
    return client.get(url, headers=headers)


def named(response: Any, name: str) -> bool:
    body = response.json()
    problems = body["error"].get("details", {}).get("errors", [])
    return any(name in p["parameter"] for p in problems) or (
        body["error"].get("details", {}).get("parameter") == name
    )


def test_every_hot_route_is_served_by_the_fast_path(client: TestClient, spec: dict) -> None:
    """Each documented hot operation is matched before FastAPI (whose endpoints would fail)."""
    hot: HotRoutes = client.app.middleware_stack.hot  # type: ignore[attr-defined]
    for (method, template), url in HOT.items():
        assert method in spec["paths"][template]
        scope = {"method": method.upper(), "path": url.split("?")[0].format(seed=3, format="png")}
        found = hot.match(scope)
        assert found is not None and found[0].route.path == template
    assert hot.match({"method": "GET", "path": "/generate"}) is None  # 405 from FastAPI


@pytest.mark.parametrize("key", list(HOT), ids=lambda k: f"{k[0]} {k[1]}")
def test_documented_bounds_are_the_enforced_ones(
    client: TestClient, spec: dict, key: tuple[str, str]
) -> None:
    operation = spec["paths"][key[1]][key[0]]
    probed = 0
    for parameter in operation["parameters"]:
        name, where = parameter["name"], parameter["in"]
        for schema in alternatives(parameter["schema"]):
            if schema.get("type") != "integer" and schema.get("type") != "number":
                continue
            step = 1 if schema["type"] == "integer" else 0.001
            for bound, past in (("minimum", -step), ("maximum", step)):
                if bound not in schema:
                    continue
                at = schema[bound]
                ok = request(client, key, name, where, at)
                assert ok.status_code != 422 or not named(ok, name), (name, bound, ok.text)
                bad = request(client, key, name, where, at + past)
                assert bad.status_code == 422 and named(bad, name), (name, bound, bad.text)
                probed += 1
    assert probed >= 3


@pytest.mark.parametrize("key", list(HOT), ids=lambda k: f"{k[0]} {k[1]}")
def test_documented_enums_are_the_accepted_values(
    client: TestClient, spec: dict, key: tuple[str, str]
) -> None:
    operation = spec["paths"][key[1]][key[0]]
    enums = [
        (p["name"], p["in"], s["enum"])
        for p in operation["parameters"]
        for s in alternatives(p["schema"])
        if "enum" in s
    ]
    assert enums or key[0] == "post"
    for name, where, values in enums:
        for value in values:
            r = request(client, key, name, where, value)
            assert r.status_code == 200, (name, value, r.text)
        r = request(client, key, name, where, "bmp")
        assert r.status_code == 422 and named(r, name), (name, r.text)


def test_interpolate_steps_documents_the_configured_maximum(client: TestClient, spec: dict) -> None:
    steps = next(
        p for p in spec["paths"]["/interpolate"]["get"]["parameters"] if p["name"] == "steps"
    )
    assert steps["schema"]["maximum"] == MAX_COUNT


def test_the_body_is_the_documented_model(client: TestClient, spec: dict) -> None:
    """The documented body is GenerateRequest, with count and seeds bound by DCGAN_MAX_COUNT."""
    body = spec["paths"]["/generate"]["post"]["requestBody"]["content"]["application/json"]
    refs = [s.get("$ref") for s in body["schema"]["anyOf"]]
    assert "#/components/schemas/GenerateRequest" in refs
    documented = spec["components"]["schemas"]["GenerateRequest"]
    assert set(documented["properties"]) == set(GenerateRequest.model_fields)
    count = documented["properties"]["count"]
    assert count["maximum"] == MAX_COUNT
    ok = client.post("/generate?model=tiny", json={"count": MAX_COUNT, "format": "json"})
    assert ok.status_code == 200
    bad = client.post("/generate?model=tiny", json={"count": MAX_COUNT + 1, "format": "json"})
    assert bad.status_code == 422 and "count" in bad.text
    seeds = next(s for s in alternatives(documented["properties"]["seeds"]))
    assert seeds["maxItems"] == MAX_COUNT
    listed = list(range(MAX_COUNT))
    assert (
        client.post("/generate?model=tiny", json={"seeds": listed, "grid": True}).status_code == 200
    )
    too_many = client.post("/generate?model=tiny", json={"seeds": [*listed, 9], "grid": True})
    assert too_many.status_code == 422
    # an undocumented field is refused, not ignored
    assert client.post("/generate?model=tiny", json={"colour": 1}).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"seed": 1, "seeds": [2]},
        {"seed": 1, "latents": [[0.0] * 8]},
        {"seeds": [1], "latents": [[0.0] * 8]},
        {"seed": 1, "seeds": [1], "latents": [[0.0] * 8]},
    ],
)
def test_two_seed_sources_together_are_documented_as_refused(
    client: TestClient, spec: dict, body: dict
) -> None:
    documented = spec["components"]["schemas"]["GenerateRequest"]["not"]["anyOf"]
    pairs = [set(d["required"]) for d in documented]
    assert pairs == [{"seed", "seeds"}, {"seed", "latents"}, {"seeds", "latents"}]
    assert any(pair <= set(body) for pair in pairs)  # the schema refuses it too
    both = client.post("/generate?model=tiny", json=body)
    assert both.status_code == 422 and ("not both" in both.text or "not all three" in both.text)
