"""The explicit step registry."""

from __future__ import annotations

import pytest

from lifeboat.errors import RegistryError
from lifeboat.registry import Params, StepContext, StepOutput, StepRegistry, default_registry


class NoParams(Params):
    pass


def test_builtin_checks_are_registered_with_models() -> None:
    registry = default_registry()
    assert {"http.status", "tcp.open"} <= set(registry.names("check"))
    spec = registry.get("tcp.open")
    assert spec is not None and spec.kind == "check" and not spec.mutating
    assert set(spec.params.model_fields) == {"host", "port", "timeout"}
    assert spec.summary == "Require that a TCP connection to host:port is accepted."


def test_duplicate_name_is_refused() -> None:
    local = StepRegistry()

    @local.check("x.y")
    def first(params: NoParams, ctx: StepContext) -> StepOutput:
        return StepOutput(summary="")

    with pytest.raises(RegistryError, match=r"'x\.y' is already registered"):
        local.check("x.y")(first)


def test_function_without_params_model_is_refused() -> None:
    local = StepRegistry()

    def untyped(params, ctx):  # type: ignore[no-untyped-def]
        return StepOutput(summary="")

    with pytest.raises(RegistryError, match="must be annotated with a Params model"):
        local.action("x.z", reversible=False)(untyped)


def test_checks_package_never_imports_prefect() -> None:
    import subprocess
    import sys

    code = "import sys, checks, lifeboat.runbook; print('prefect' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
