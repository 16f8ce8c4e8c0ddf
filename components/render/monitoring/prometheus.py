"""Prometheus: prometheus.yml (global settings, Alertmanagers, rule files, scrape jobs) and
the targets files of file-based discovery."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.render.monitoring.common import _dump

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_JOB_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_TARGET = re.compile(r"^([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$")


@dataclass(frozen=True)
class ScrapeJob:
    name: str  # e.g. "node", "nginx", "redis", "app-backend", "prometheus", "alertmanager"
    targets: list[str]  # "host:port"
    metrics_path: str = "/metrics"
    labels: dict[str, str] = field(default_factory=dict)  # static labels, e.g. {"service": "backend"}
    # Where Prometheus reads this job's targets and labels (file-based discovery) instead of
    # its config: targets that move with a deploy then need no reload (render_targets_file).
    targets_file: str | None = None

    def validate(self) -> None:
        if not _JOB_NAME.match(self.name):
            raise ValueError(f"scrape job name {self.name!r}: letters, digits, '_', '.', '-'")
        for target in self.targets:
            if not _TARGET.match(target):
                raise ValueError(f"scrape job {self.name!r}: target {target!r} is not host:port")
        if not self.metrics_path.startswith("/"):
            raise ValueError(f"scrape job {self.name!r}: metrics_path must start with '/'")
        for label in self.labels:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"scrape job {self.name!r}: {label!r} is not a valid label name")


def render_prometheus_config(
    *,
    scrape_interval_s: int,
    jobs: list[ScrapeJob],
    alertmanager_targets: list[str],
    rule_files: list[str],
    environment: str,
) -> str:
    if scrape_interval_s < 1:
        raise ValueError("scrape_interval_s must be at least 1")
    names = [job.name for job in jobs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate scrape job names: {', '.join(duplicates)}")
    for job in jobs:
        job.validate()
    for target in alertmanager_targets:
        if not _TARGET.match(target):
            raise ValueError(f"alertmanager target {target!r} is not host:port")

    config: dict[str, Any] = {
        "global": {
            "scrape_interval": f"{scrape_interval_s}s",
            # Prometheus rejects a timeout longer than the interval.
            "scrape_timeout": f"{min(10, scrape_interval_s)}s",
            "evaluation_interval": f"{scrape_interval_s}s",
            "external_labels": {"environment": environment},
        },
    }
    if alertmanager_targets:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanager_targets)}]}]}
    config["rule_files"] = list(rule_files)
    scrape_configs: list[dict[str, Any]] = []
    for job in jobs:
        scrape: dict[str, Any] = {"job_name": job.name, "metrics_path": job.metrics_path}
        if job.targets_file is not None:
            # Prometheus watches the file; the interval is the fallback when a change is missed.
            scrape["file_sd_configs"] = [{"files": [job.targets_file], "refresh_interval": "30s"}]
        else:
            static: dict[str, Any] = {"targets": list(job.targets)}
            if job.labels:
                static["labels"] = dict(job.labels)
            scrape["static_configs"] = [static]
        scrape_configs.append(scrape)
    config["scrape_configs"] = scrape_configs
    return _dump(config)


def render_targets_file(targets: Sequence[str], *, job: str, labels: Mapping[str, str] | None = None) -> str:
    """A job's targets and static labels in Prometheus' file-based discovery format (JSON)."""
    ScrapeJob(name=job, targets=list(targets), labels=dict(labels or {})).validate()
    group: dict[str, Any] = {"targets": sorted(targets)}
    if labels:
        group["labels"] = dict(labels)
    return json.dumps([group], indent=2) + "\n"
