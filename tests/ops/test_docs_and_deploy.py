"""Generated documents are current; the container and compose files say what the guides say."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

import yaml

from tests.ops.helpers import ROOT


def load(path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_generated_from_the_current_openapi_document():
    gen = load(ROOT / "docs" / "gen_api_reference.py")
    expected = gen.render(gen.openapi_document())
    assert (ROOT / "docs" / "api-reference.md").read_text() == expected, \
        "docs/api-reference.md is stale: run .venv/bin/python docs/gen_api_reference.py"


def test_part11_matrix_is_generated_from_the_requirements():
    gen = load(ROOT / "docs" / "validation" / "gen_part11_matrix.py")
    assert (ROOT / "docs" / "validation" / "part11-matrix.md").read_text() == gen.render(), \
        "docs/validation/part11-matrix.md is stale: run .venv/bin/python docs/validation/gen_part11_matrix.py"


def test_containerfile_final_stage_is_non_root_without_build_tools():
    text = (ROOT / "deploy" / "Containerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)
    assert len(stages) == 3, "a build stage and a final stage"
    final = stages[2]
    assert "slim" in text and "AS build" in stages[1]
    assert re.search(r"^USER 10001", final, flags=re.M)
    for tool in ("build-essential", "gcc", "git ", "pip install"):
        assert tool not in final, tool
    assert "write_build_info.py" in stages[1]
    assert 'ENTRYPOINT ["/usr/local/bin/gxpbridge-entrypoint"]' in final


def test_compose_runs_web_worker_migrate_and_postgresql():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "migrate", "web", "worker"}
    assert services["web"]["command"] == ["web"] and services["worker"]["command"] == ["worker"]
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["web"]["environment"]["GXPBRIDGE_MIGRATE_ON_START"] == "0"
    assert "archive_mode=on" in services["db"]["command"]
    assert services["web"]["ports"] == ["127.0.0.1:8000:8000"]
