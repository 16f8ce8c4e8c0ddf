"""Capacity and cost at plan time: placements that fit and that do not, the plan catalogue, the
production stack's figures against the seeds' sizing, and the model against what the program
really declares."""

from __future__ import annotations

import copy
import datetime
import json
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.capacity import (
    LOG_FILE_MB,
    LOG_FILES,
    MonthlyCost,
    capacity_report,
    placements,
    prometheus_disk_gb,
    render_text,
)
from components.config import ConfigError, StackConfig
from components.config.capacity import CatalogueError, load_catalogue
from components.config.stackfile import PROJECT_DIR, read_stack_file
from components.load import load_stack_config
from tools.capacity import main as capacity_main
from tools.capacity import markdown
from tools.offline import Declared, run_offline, run_program
from tools.plan import main as plan_main

Edit = Callable[[dict[str, Any]], None]
CONTAINER = "docker:index/container:Container"
BUSINESS = {"cpus": 6, "memoryMb": 16384, "diskGb": 400}  # seed 000's Business VPS


def raw_of(stack: str, *edits: Edit) -> tuple[dict[str, Any], set[str]]:
    raw, secret_keys = read_stack_file(stack)
    raw = copy.deepcopy(raw)
    for edit in edits:
        edit(raw)
    return raw, secret_keys


def load(stack: str, *edits: Edit) -> StackConfig:
    raw, secret_keys = raw_of(stack, *edits)
    return load_stack_config(stack, raw, secret_keys, placeholder_secrets=True)


def host(index: int, **fields: Any) -> Edit:
    """Set fields of webstack:hosts[index] (None removes one)."""

    def edit(raw: dict[str, Any]) -> None:
        entry = raw["webstack:hosts"][index]
        for key, value in fields.items():
            if value is None:
                entry.pop(key, None)
            else:
                entry[key] = value

    return edit


def service(name: str, **fields: Any) -> Edit:
    return lambda raw: raw["webstack:services"][name].update(fields)


def key(top: str, **fields: Any) -> Edit:
    return lambda raw: raw.setdefault(f"webstack:{top}", {}).update(fields)


def drop_host(name: str) -> Edit:
    def edit(raw: dict[str, Any]) -> None:
        raw["webstack:hosts"] = [h for h in raw["webstack:hosts"] if h["name"] != name]

    return edit


def only_on(name: str, *services: str) -> Edit:
    def edit(raw: dict[str, Any]) -> None:
        for svc in services:
            raw["webstack:services"][svc]["hosts"] = [name]

    return edit


# Production's app-1 at a deploy's peak: backend-0 and backend-2 (1024 MB each), frontend-0
# (256 MB), each twice while a deploy rolls them, its node exporter (64 MB) and log shipper (128 MB).
APP1_PEAK_MB = 2 * (1024 + 1024 + 256) + 64 + 128
RESERVE_MB = 1024  # the default capacity.reserve.memoryMb
APP1_EXACTLY_FULL = host(1, plan=None, cpus=6, memoryMb=APP1_PEAK_MB + RESERVE_MB, diskGb=400)
# app-2 carries backend-1, frontend-1, its node exporter and log shipper: 2 * (1024 + 256) + 64 + 128.
APP2_PEAK_MB = 2 * (1024 + 256) + 64 + 128
APP2_EXACTLY_FULL = host(2, plan=None, cpus=6, memoryMb=APP2_PEAK_MB + RESERVE_MB, diskGb=400)

# (id, stack, edits, None when it fits, else (the key, words the message must hold))
PLACEMENTS: list[tuple[str, str, list[Edit], tuple[str, list[str]] | None]] = [
    ("production-as-it-is", "production", [], None),
    ("staging-as-it-is", "staging", [], None),
    ("local-host-without-a-size-is-not-checked", "local", [service("backend", memoryMb=262_144)], None),
    ("exactly-full-fits", "production", [APP1_EXACTLY_FULL], None),
    (
        "one-megabyte-short",
        "production",
        [host(1, plan=None, cpus=6, memoryMb=APP1_PEAK_MB + RESERVE_MB - 1, diskGb=400)],
        ("webstack:hosts[1]", ["host 'app-1'", "over its memory by 1 MB", "backend-0 1024 MB", "frontend-0 256 MB"]),
    ),
    (
        # backend-3 lands on app-2 (round-robin): 1024 MB, and 1024 more while a deploy rolls it
        "a-replica-added-to-a-full-host",
        "production",
        [APP2_EXACTLY_FULL, service("backend", replicas=4)],
        ("webstack:hosts[2]", ["host 'app-2'", "over its memory by 2048 MB", "backend-3 1024 MB", "+2304 MB"]),
    ),
    # backend-3 on app-2 while app-1 is the full one
    ("a-replica-added-to-a-host-with-room", "production", [APP1_EXACTLY_FULL, service("backend", replicas=4)], None),
    (
        "a-host-removed-that-services-still-name",
        "production",
        [drop_host("app-2")],
        ("webstack:services.backend.hosts[1]", ["names no host: 'app-2'"]),
    ),
    (
        "a-host-removed-and-its-replicas-moved-fit-on-one-business-vps",
        "production",
        [drop_host("app-2"), only_on("app-1", "backend", "frontend")],
        None,
    ),
    (
        "redis-maxmemory-over-its-host",
        "production",
        [key("redis", maxmemoryMb=16_384)],
        ("webstack:hosts[3]", ["host 'data-1'", "redis 24640 MB", "15360 MB available"]),
    ),
    (
        "prometheus-retention-over-the-disk",
        "production",
        [key("monitoring", retentionDays=3650)],
        ("webstack:hosts[5]", ["host 'monitor-1'", "over its disk by", "prometheus"]),
    ),
    (
        "cpu-limits-over-the-cpus",
        "staging",
        [service("backend", cpus=3)],
        ("webstack:hosts[0]", ["host 'staging-1'", "over its CPUs by 1.5", "backend-0 3 CPU", "cpuOvercommit 1"]),
    ),
    (
        "cpu-limits-within-a-higher-overcommit",
        "staging",
        [service("backend", cpus=3), key("capacity", cpuOvercommit=1.5)],
        None,
    ),
    (
        "own-figures-override-the-plan",
        "production",
        [host(1, memoryMb=4096)],
        ("webstack:hosts[1]", ["host 'app-1'", "plan hostinger-business: 6 vCPU, 4096 MB memory"]),
    ),
    (
        "a-bigger-reserve",
        "production",
        [key("capacity", reserve={"memoryMb": 12_000})],
        ("webstack:hosts[1]", ["host 'app-1'", "less 12000 MB for the OS and Docker"]),
    ),
    (
        "a-local-host-that-declares-its-size-is-checked",
        "local",
        [host(0, cpus=2, memoryMb=2048, diskGb=50)],
        ("webstack:hosts[0]", ["host 'local'", "over its memory by"]),
    ),
    (
        "a-plan-that-is-not-in-the-catalogue",
        "production",
        [host(0, plan="hostinger-premium")],
        ("webstack:hosts[0].plan", ["not in the catalogue", "hostinger-business"]),
    ),
    (
        "an-ssh-host-without-a-size",
        "production",
        [host(4, plan=None)],
        ("webstack:hosts[4].plan", ["missing; required for an ssh host", "host 'data-2'"]),
    ),
    (
        "an-own-size-without-its-disk",
        "production",
        [host(4, plan=None, cpus=4, memoryMb=8192)],
        ("webstack:hosts[4].diskGb", ["missing; a host without a plan gives cpus, memoryMb and diskGb together"]),
    ),
    (
        "a-plan-priced-in-another-currency",
        "production",
        [key("capacity", currency="EUR")],
        ("webstack:hosts[0].plan", ["priced in USD, not in the stack's currency EUR"]),
    ),
    (
        "a-budget-on-kubernetes",
        "production-k8s",
        [key("capacity", monthlyBudget=500)],
        ("webstack:capacity.monthlyBudget", ["not used on platform kubernetes"]),
    ),
]


@pytest.mark.parametrize(("stack", "edits", "expected"), [p[1:] for p in PLACEMENTS], ids=[p[0] for p in PLACEMENTS])
def test_placements_that_fit_and_that_do_not(
    stack: str, edits: list[Edit], expected: tuple[str, list[str]] | None
) -> None:
    if expected is None:
        config = load(stack, *edits)
        assert capacity_report(config).problems() == []
        return
    with pytest.raises(ConfigError) as error:
        load(stack, *edits)
    wanted_key, words = expected
    assert wanted_key in error.value.keys, str(error.value)
    assert f"stack '{stack}'" in str(error.value)
    detail = next(p.detail for p in error.value.problems if p.key == wanted_key)
    for word in words:
        assert word in detail, detail
    assert "allowed" in detail or "required" in detail or "missing" in detail, detail


def test_a_removed_host_is_reported_as_such_and_nothing_about_capacity() -> None:
    with pytest.raises(ConfigError) as error:
        load("production", drop_host("app-2"))
    assert set(error.value.keys) == {"webstack:services.backend.hosts[1]", "webstack:services.frontend.hosts[1]"}


def test_exactly_full_is_full() -> None:
    config = load("production", APP1_EXACTLY_FULL)
    app1 = next(h for h in capacity_report(config).hosts if h.name == "app-1")
    assert app1.memory_peak_mb == app1.available_memory_mb == APP1_PEAK_MB
    assert app1.memory_mb == APP1_PEAK_MB - (1024 + 1024 + 256)


def test_every_problem_of_a_stack_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        load("production", key("redis", maxmemoryMb=16_384), key("monitoring", retentionDays=3650))
    assert {"webstack:hosts[3]", "webstack:hosts[4]", "webstack:hosts[5]"} <= set(error.value.keys)


# --- the catalogue --------------------------------------------------------------------------------


def test_catalogue_holds_the_seeds_plans_with_their_sources() -> None:
    plans = load_catalogue().plans
    business, enterprise = plans["hostinger-business"], plans["hostinger-enterprise"]
    # seed 000: Business VPS 6 vCPU, 16 GB, 400 GB NVMe, $29.99/month; Enterprise 8, 32, 800, $59.99.
    assert (business.cpus, business.memory_mb, business.disk_gb) == (6, 16384, 400)
    assert (business.monthly_price, business.currency) == (29.99, "USD")
    assert (enterprise.cpus, enterprise.memory_mb, enterprise.disk_gb) == (8, 32768, 800)
    assert (enterprise.monthly_price, enterprise.currency) == (59.99, "USD")
    for plan in (business, enterprise):
        assert "seed 000" in plan.price_source and f"${plan.monthly_price}/month" in plan.price_source
        assert plan.price_date == datetime.date(2026, 12, 2)
    # seed 004: an OVH VPS, 4 CPU / 16 GB now, 8 CPU / 32 GB as the target, 200 GB SSD; no price given.
    current, target = plans["ovh-seed004-current"], plans["ovh-seed004-target"]
    assert (current.cpus, current.memory_mb, current.disk_gb) == (4, 16384, 200)
    assert (target.cpus, target.memory_mb, target.disk_gb) == (8, 32768, 200)
    for plan in (current, target):
        assert plan.provider == "OVH" and plan.monthly_price is None and "seed 004" in plan.price_source
        assert "no price" in plan.price_source or "nor its price" in plan.price_source


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("plans: {}\n", "plans"),
        (
            "plans:\n  x:\n    provider: A\n    product: B\n    cpus: 1\n    memoryMb: 1024\n    diskGb: 10\n"
            "    monthlyPrice: 5\n    priceSource: somewhere, once\n    priceDate: null\n",
            "currency and priceDate",
        ),
        (
            "plans:\n  x:\n    provider: A\n    product: B\n    cpus: 0\n    memoryMb: 1024\n    diskGb: 10\n"
            "    monthlyPrice: null\n    priceSource: somewhere, once\n    priceDate: null\n",
            "cpus",
        ),
        ("plans: [\n", "invalid"),
    ],
)
def test_a_broken_catalogue_is_refused(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "plans.yaml"
    path.write_text(text)
    with pytest.raises(CatalogueError) as error:
        load_catalogue(path)
    assert words in str(error.value) and str(path) in str(error.value)


# --- the production stack against the seeds' sizing ---------------------------------------------

# Production's figures (placed at a deploy's peak / CPU limits / estimated disk, GB).
# Every host also runs a log shipper (128 MB); monitor-1 the log store (512) and vmalert (64).
PRODUCTION = {
    "edge-1": (640 + 128, 0.0, ["node-exporter", "edge", "edge-exporter", "log-shipper"]),
    "app-1": (APP1_PEAK_MB, 2.5, ["node-exporter", "backend-0", "backend-2", "frontend-0", "log-shipper"]),
    "app-2": (APP2_PEAK_MB, 1.5, ["node-exporter", "backend-1", "frontend-1", "log-shipper"]),
    "data-1": (
        3136 + 64 + 64 + 64 + 128 + 1024,
        0.0,
        ["node-exporter", "redis", "redis-exporter", "redis-sentinel", "log-shipper", "backup"],
    ),
    "data-2": (3136 + 64 + 64 + 128, 0.0, ["node-exporter", "redis-replica", "redis-sentinel", "log-shipper"]),
    "monitor-1": (
        64 + 64 + 1024 + 256 + 256 + 512 + 64 + 128,
        0.0,
        [
            "node-exporter",
            "redis-sentinel",
            "prometheus",
            "alertmanager",
            "grafana",
            "log-store",
            "vmalert",
            "log-shipper",
        ],
    ),
}


def test_production_runs_on_six_business_vps_as_seed_000_sizes_them() -> None:
    config = load("production")
    report = capacity_report(config)
    assert [h.name for h in report.hosts] == list(PRODUCTION)
    for h in report.hosts:
        assert h.size is not None and h.size.plan == "hostinger-business"
        assert (h.size.cpus, h.size.memory_mb, h.size.disk_gb) == tuple(BUSINESS.values())
        peak, cpus, containers = PRODUCTION[h.name]
        assert (h.memory_peak_mb, h.cpus, [p.name for p in h.placed]) == (peak, cpus, containers), h.name
        assert h.available_memory_mb == 16384 - 1024 and h.available_cpus == 5.0 and h.available_disk_gb == 380
        # Every host has room to spare: at most a third of its memory, a tenth of its disk.
        assert h.memory_peak_mb <= (h.available_memory_mb or 0) / 3 and h.disk_gb <= (h.available_disk_gb or 0) / 10


def test_production_disk_estimates() -> None:
    report = capacity_report(load("production"))
    disk = {h.name: h.disk_gb for h in report.hosts}
    logs = LOG_FILE_MB * LOG_FILES / 1024
    buffer = 1.0  # each host's log shipper may hold logs.bufferMb (1024 MB) while the store is away
    # data-1: Redis' RDB, its temporary copy and the AOF (3 x 2 GB), the backup's work space:
    # a 10 GB database dump, a 2 GB RDB, 1 GB of restic cache.
    assert disk["data-1"] == pytest.approx(6 + 10 + 2 + 1 + buffer + 6 * logs)
    assert disk["data-2"] == pytest.approx(6 + buffer + 4 * logs)
    assert disk["edge-1"] == pytest.approx(buffer + 4 * logs)
    # Prometheus: 6 node exporters, the nginx and Redis exporters, 5 app replicas, itself,
    # Alertmanager, the log store and vmalert (11860 series) every 15 s for 30 days.
    tsdb = prometheus_disk_gb(series=11_860, scrape_interval_s=15, retention_days=30)
    assert tsdb == pytest.approx(11_860 / 15 * 30 * 86_400 * 2 * 1.1 / 1024**3 + 0.5)
    # The log store: production caps it at logs.maxDiskGb, 20 GB.
    assert disk["monitor-1"] == pytest.approx(tsdb + 0.1 + 1.0 + 20 + buffer + 8 * logs)
    assert 4 < tsdb < 6


def test_production_costs_one_business_vps_more_than_seed_000s_high_scale_estimate() -> None:
    cost = capacity_report(load("production")).cost
    assert cost.hosts == dict.fromkeys(PRODUCTION, 29.99)
    assert cost.total == 179.94 and cost.currency == "USD" and cost.unpriced == []
    # seed 000, High-Scale Configuration: "3-5 Business VPS instances", "$89.97-149.95/month":
    # production has six, one Business VPS above the seed's upper figure.
    assert cost.total == pytest.approx(149.95 + 29.99)
    assert cost.budget == 180 and cost.over_budget is None


def test_the_app_tier_fits_one_business_vps_at_a_deploys_peak() -> None:
    """seed 000's starter configuration runs the whole app on one Business VPS."""
    config = load("production", drop_host("app-2"), only_on("app-1", "backend", "frontend"))
    app1 = next(h for h in capacity_report(config).hosts if h.name == "app-1")
    assert app1.memory_peak_mb == 2 * (3 * 1024 + 2 * 256) + 64 + 128 and app1.cpus == 4.0
    assert app1.cpus <= (app1.available_cpus or 0)


def test_staging_is_one_business_vps_within_its_budget() -> None:
    report = capacity_report(load("staging"))
    (staging,) = report.hosts
    assert staging.size is not None and staging.size.plan == "hostinger-business"
    assert staging.memory_peak_mb < (staging.available_memory_mb or 0) / 2
    assert report.cost.total == 29.99 and report.cost.budget == 30


def test_local_is_this_machine_and_costs_nothing() -> None:
    report = capacity_report(load("local"))
    (local,) = report.hosts
    assert local.size is None and not local.checked and local.output()["available"] is None
    assert report.cost.hosts == {"local": 0.0} and report.cost.total == 0.0


def test_kubernetes_has_no_hosts_and_no_known_cost() -> None:
    report = capacity_report(load("production-k8s"))
    assert report.hosts == () and report.cost.total is None and report.cost.output()["hosts"] == {}


# --- cost arithmetic ------------------------------------------------------------------------------


def test_cost_sums_in_cents() -> None:
    cost = MonthlyCost("USD", {f"h{i}": 0.1 for i in range(3)}, budget=0.3)
    assert cost.total == 0.3 and cost.over_budget is None  # 0.1 + 0.1 + 0.1 is 0.30000000000000004 in floats
    assert cost.with_budget(0.29).over_budget == 0.01


def test_unpriced_hosts_are_listed_and_left_out_of_the_total() -> None:
    config = load("production", host(5, plan="ovh-seed004-current"))
    cost = capacity_report(config).cost
    assert cost.unpriced == ["monitor-1"] and cost.hosts["monitor-1"] is None
    assert cost.total == pytest.approx(5 * 29.99)
    priced = capacity_report(load("production", host(5, plan="ovh-seed004-current", monthlyPrice=24.5))).cost
    assert priced.unpriced == [] and priced.total == pytest.approx(5 * 29.99 + 24.5)


def test_an_own_price_overrides_the_plans() -> None:
    cost = capacity_report(load("production", host(0, monthlyPrice=19.99))).cost
    assert cost.hosts["edge-1"] == 19.99 and cost.total == pytest.approx(5 * 29.99 + 19.99)


# --- the model is what the program declares -------------------------------------------------------


def _host_of(run_resources: list[Declared], container: Declared) -> str:
    provider_urn = container.provider.rsplit("::", 1)[0]
    provider = next(r for r in run_resources if r.urn == provider_urn)
    return provider.name.removesuffix("-docker")


def declared_by_host(resources: list[Declared]) -> dict[str, list[tuple[int, float | None, bool]]]:
    """Per host: each container's (memory limit, CPU limit, replaced start-before-stop)."""
    out: dict[str, list[tuple[int, float | None, bool]]] = {}
    for r in resources:
        if r.type != CONTAINER:
            continue
        inputs = r.plain_inputs
        cpus = float(inputs["cpus"]) if inputs.get("cpus") is not None else None
        out.setdefault(_host_of(resources, r), []).append((int(inputs["memory"]), cpus, not r.delete_before_replace))
    return {h: sorted(items, key=repr) for h, items in out.items()}


MODEL_STACKS: list[tuple[str, list[Edit]]] = [
    ("local", []),
    ("staging", []),
    ("production", []),
    ("production", [service("backend", replicas=7, memoryMb=700, cpus=0.75), key("redis", maxmemoryMb=1000)]),
    ("production", [key("backup", enabled=False), key("monitoring", grafana=False)]),
]


@pytest.mark.parametrize(("stack", "edits"), MODEL_STACKS, ids=[f"{s}-{i}" for i, (s, _) in enumerate(MODEL_STACKS)])
def test_the_model_places_exactly_the_containers_the_program_declares(stack: str, edits: list[Edit]) -> None:
    raw, secret_keys = raw_of(stack, *edits)
    run = run_offline(stack, raw=raw, secret_keys=secret_keys)
    model = {
        name: sorted(((p.memory_mb, p.cpus, p.rolls) for p in placed), key=repr)
        for name, placed in placements(run.config).items()
    }
    assert declared_by_host(run.resources) == model


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_every_container_rotates_its_logs_as_the_disk_estimate_counts(stack: str) -> None:
    # Rotated as the disk estimate counts; each line names the container's stack, service, replica.
    rotation = {
        "max-size": f"{LOG_FILE_MB}m",
        "max-file": str(LOG_FILES),
        "labels": "webstack.stack,webstack.service,webstack.replica",
    }
    for container in run_offline(stack).of_type(CONTAINER):
        inputs = container.plain_inputs
        assert (inputs["logDriver"], inputs["logOpts"]) == ("json-file", rotation), container.name


# --- outputs, the offline plan, the program, the comment --------------------------------------------


@pytest.mark.parametrize("stack", ["local", "staging", "production", "production-k8s"])
def test_outputs_are_the_report(stack: str) -> None:
    run = run_offline(stack)
    report = capacity_report(run.config)
    assert run.outputs["capacity"] == report.capacity_output()
    assert run.outputs["monthlyCost"] == report.cost_output()


def test_the_program_stops_before_any_resource_when_a_host_is_over() -> None:
    raw, secret_keys = raw_of("production", key("redis", maxmemoryMb=16_384))
    raw["webstack:sshPrivateKey"] = "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n"
    holder: dict[str, str] = {}

    def program() -> None:
        try:
            runpy.run_path(str(PROJECT_DIR / "__main__.py"))
        except SystemExit as stop:
            holder["message"] = str(stop)

    declared, _ = run_program("production", program, raw=raw, secret_keys=secret_keys)
    assert declared == []
    assert "webstack:hosts[3]" in holder["message"] and "host 'data-1'" in holder["message"]


def test_the_offline_plan_prints_capacity_and_cost(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_main(["production"]) == 0
    text = capsys.readouterr().out
    assert "capacity (placed / available" in text
    assert f"app-1      hostinger-business    memory {APP1_PEAK_MB}/15360 MB  CPUs 2.5/5" in text
    assert "= 179.94 USD; budget 180.00" in text
    assert '"monthlyCost": ' not in text and "monthlyCost: {" in text


def test_render_text_of_an_unchecked_host_and_an_unpriced_one() -> None:
    text = render_text(capacity_report(load("local")))
    assert "local  no size: not checked (memory" in text
    text = render_text(capacity_report(load("production", host(5, plan="ovh-seed004-current"))))
    assert "monitor-1 unpriced" in text and "(unpriced: monitor-1)" in text


def test_capacity_tool_json_is_the_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    assert capacity_main(["production", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    outputs = run_offline("production").outputs
    assert document == {"stack": "production", "capacity": outputs["capacity"], "monthlyCost": outputs["monthlyCost"]}
    assert capacity_main(["nosuchstack"]) == 2


def _figures(stack: str, *edits: Edit) -> dict[str, Any]:
    report = capacity_report(load(stack, *edits))
    return {"stack": stack, "capacity": report.capacity_output(), "monthlyCost": report.cost_output()}


def test_the_comment_shows_the_change_against_the_base() -> None:
    base = _figures("production")
    head = _figures(
        "production",
        lambda raw: raw["webstack:hosts"].append(
            {"name": "app-3", "address": "203.0.113.16", "privateAddress": "10.0.0.16", "plan": "hostinger-business"}
        ),
        service("backend", hosts=["app-1", "app-2", "app-3"]),
        host(0, plan="hostinger-enterprise"),
        key("capacity", monthlyBudget=180),
    )
    text = markdown(head, base)
    assert text.startswith("<!-- webstack-capacity:production -->\n")
    assert "Monthly cost: **239.93 USD** (base: 179.94 USD, +59.99); budget 180.00: **over it by 59.93**" in text
    assert "| app-3 (new) | hostinger-business | 2240 / 15360 | 1.00 / 5.0 | 1.1 / 380 | 29.99 |" in text
    assert "| edge-1 | hostinger-enterprise (was hostinger-business) |" in text and "| 59.99 (+30.00) |" in text
    # app-1 lost backend-2 to app-3: 2048 MB less at the peak, one CPU less
    assert f"| app-1 | hostinger-business | {APP1_PEAK_MB - 2048} / 15360 (-2048) | 1.50 / 5.0 (-1.00) |" in text
    assert "| monitor-1 | hostinger-business | 2368 / 15360 | 0.00 / 5.0 | 27.5 / 380 (+0.5) | 29.99 |" in text
    removed = markdown(base, head)
    assert "(base: 239.93 USD, -59.99); budget 180.00: within it (0.06 left)" in removed
    assert "| ~~app-3~~ (removed) | | | | | -29.99 |" in removed


def test_the_comment_without_a_base_report() -> None:
    text = markdown(_figures("staging"), {})
    assert "Monthly cost: **29.99 USD** (the base branch reports no cost); budget 30.00: within it (0.01 left)" in text
    assert "| staging-1 | hostinger-business | 7104 / 15360 |" in text
    k8s = markdown(_figures("production-k8s"), {})
    assert "**unknown USD**" in k8s and "No hosts" in k8s
