"""The real pack, started the way the Pulumi CLI starts it, answering over gRPC.

The CLI runs `python -m pulumi.policy <engine> .` in policy/ (so `policy` is not a package on
sys.path there); the pack prints its port and serves the Analyzer service. This drives that
process with the requests the engine sends: GetAnalyzerInfo, Configure (a stack's pack
config), Analyze (one resource) and AnalyzeStack (the whole stack).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, cast

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from components.config.stackfile import PROJECT_DIR
from policy.registry import PACK_NAME, POLICY_NAMES
from tests.policy.helpers import base_resources, nginx_text
from tools.offline import Declared, reveal

pytestmark = pytest.mark.timeout(120)

MANDATORY = 1  # proto EnforcementLevel values
ADVISORY = 0


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PROJECT_DIR / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.isdigit(), (
            f"the pack did not print its port: {line!r} {process.stderr.read() if process.poll() is not None and process.stderr else ''}"
        )
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    json_format.ParseDict(json.loads(json.dumps(value)), out)
    return out


def request(resource: Declared, props: dict[str, Any] | None = None) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        name=resource.name,
        urn=resource.urn,
        properties=struct(props if props is not None else reveal(resource.inputs)),
        options=analyzer_pb2.AnalyzerResourceOptions(parent=resource.parent),
    )


def configure(stub: analyzer_pb2_grpc.AnalyzerStub, config: dict[str, tuple[int, dict[str, Any]]]) -> None:
    stub.Configure(
        analyzer_pb2.ConfigureAnalyzerRequest(
            policyConfig={
                name: analyzer_pb2.PolicyConfig(enforcementLevel=cast(Any, level), properties=struct(props))
                for name, (level, props) in config.items()
            }
        )
    )


def test_pack_describes_every_policy(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == PACK_NAME and info.supportsConfig
    assert [p.name for p in info.policies] == POLICY_NAMES
    by_name = {p.name: p for p in info.policies}
    assert all(p.enforcementLevel == MANDATORY and p.description for p in info.policies)
    hsts = json_format.MessageToDict(by_name["nginx-hsts"].configSchema.properties)
    assert hsts["minMaxAge"]["default"] == 31536000


def test_analyze_one_resource(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    configure(analyzer, {"nginx-tls-protocols": (MANDATORY, {}), "nginx-hsts": (ADVISORY, {"minMaxAge": 63072000})})
    resources = base_resources("production")
    edge = next(r for r in resources if r.name == "edge-conf")
    props = reveal(edge.inputs)
    baseline = analyzer.Analyze(request(edge, props)).diagnostics
    assert [d.policyName for d in baseline if d.policyName != "nginx-hsts"] == []
    props["stdin"] = nginx_text(resources).replace("TLSv1.2 TLSv1.3", "TLSv1 TLSv1.2 TLSv1.3")
    diagnostics = analyzer.Analyze(request(edge, props)).diagnostics
    tls = [d for d in diagnostics if d.policyName == "nginx-tls-protocols"]
    assert len(tls) == 1 and tls[0].enforcementLevel == MANDATORY and "edge-conf" in tls[0].message
    hsts = [d for d in diagnostics if d.policyName == "nginx-hsts"]
    assert hsts and all(d.enforcementLevel == ADVISORY for d in hsts), "the configured level and property are used"


def test_unknown_values_during_preview_are_skipped(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    configure(analyzer, {})
    edge = next(r for r in base_resources("production") if r.name == "edge-conf")
    props = {**reveal(edge.inputs), "stdin": UNKNOWN_STRING_VALUE}
    assert list(analyzer.Analyze(request(edge, props)).diagnostics) == []
    grafana = next(r for r in base_resources("production") if r.name == "monitoring-grafana")
    props = {**reveal(grafana.inputs), "envs": UNKNOWN_STRING_VALUE}
    assert list(analyzer.Analyze(request(grafana, props)).diagnostics) == []


def test_analyze_the_stack(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    configure(analyzer, {"production-backup": (MANDATORY, {"environment": "production"})})
    resources = base_resources("production")
    jobs = {r.urn for r in resources if r.type == "webstack:backup:BackupJob"}

    def stack(kept: list[Declared]) -> analyzer_pb2.AnalyzeStackRequest:
        return analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=r.type,
                    name=r.name,
                    urn=r.urn,
                    properties=struct(reveal(r.inputs)),
                    options=analyzer_pb2.AnalyzerResourceOptions(parent=r.parent),
                    parent=r.parent,
                    dependencies=r.dependencies,
                )
                for r in kept
            ]
        )

    assert list(analyzer.AnalyzeStack(stack(resources)).diagnostics) == []
    without = [r for r in resources if r.urn not in jobs and r.parent not in jobs]
    diagnostics = analyzer.AnalyzeStack(stack(without)).diagnostics
    # Without the BackupJob nothing backs up, and nothing drills restores either.
    assert sorted(d.policyName for d in diagnostics) == ["production-backup", "production-restore-drill"]
    backup = next(d for d in diagnostics if d.policyName == "production-backup")
    assert "declares no BackupJob" in backup.message
