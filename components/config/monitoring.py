"""`webstack:monitoring`: Prometheus, Alertmanager and Grafana, and the alert thresholds.

Pure: no Pulumi import. Each warning threshold must be below its critical one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from components.config.base import Model, Name, Port


class Thresholds(Model):
    """Alert thresholds; the defaults are the seeds' (003 and 004)."""

    error_rate_warning: Annotated[float, Field(gt=0, lt=1)] = 0.01
    error_rate_critical: Annotated[float, Field(gt=0, lt=1)] = 0.05
    latency_p95_warning_s: Annotated[float, Field(gt=0)] = 0.5
    latency_p95_critical_s: Annotated[float, Field(gt=0)] = 1.0
    cpu_warning: Annotated[int, Field(ge=1, le=100)] = 80
    cpu_critical: Annotated[int, Field(ge=1, le=100)] = 90
    memory_warning: Annotated[int, Field(ge=1, le=100)] = 85
    memory_critical: Annotated[int, Field(ge=1, le=100)] = 95
    disk_warning: Annotated[int, Field(ge=1, le=100)] = 85
    disk_critical: Annotated[int, Field(ge=1, le=100)] = 95
    backup_max_age_hours: Annotated[int, Field(ge=1)] = 26
    certificate_expiry_days: Annotated[int, Field(ge=1)] = 14
    # Restore drills (backup.drill): the last successful one may be this old (null: the
    # schedule's longest gap plus a day, 192h for the weekly default); a drill should take no
    # longer than this (seed 000: "can be restored within 4 hours").
    drill_max_age_hours: Annotated[int, Field(ge=1, le=87_600)] | None = None
    drill_max_duration_hours: Annotated[float, Field(gt=0, le=168)] = 4
    # PostgreSQL (webstack:postgres): connections in use, in percent of max_connections (seed
    # 004: "Database Connections > 180 / > 195" of its 200); WAL a standby has not replayed
    # yet, in MiB (not in the seeds).
    postgres_connections_warning: Annotated[float, Field(gt=0, le=100)] = 90
    postgres_connections_critical: Annotated[float, Field(gt=0, le=100)] = 97.5
    postgres_replication_lag_warning_mb: Annotated[int, Field(ge=1, le=1_048_576)] = 64
    postgres_replication_lag_critical_mb: Annotated[int, Field(ge=1, le=1_048_576)] = 1024

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        pairs = [
            ("errorRateWarning", self.error_rate_warning, self.error_rate_critical),
            ("latencyP95WarningS", self.latency_p95_warning_s, self.latency_p95_critical_s),
            ("cpuWarning", self.cpu_warning, self.cpu_critical),
            ("memoryWarning", self.memory_warning, self.memory_critical),
            ("diskWarning", self.disk_warning, self.disk_critical),
            ("postgresConnectionsWarning", self.postgres_connections_warning, self.postgres_connections_critical),
            (
                "postgresReplicationLagWarningMb",
                self.postgres_replication_lag_warning_mb,
                self.postgres_replication_lag_critical_mb,
            ),
        ]
        for name, warning, critical in pairs:
            if warning >= critical:
                raise ValueError(f"{name} must be below its critical threshold")
        return self


class MonitoringConfig(Model):
    host: Name | None = None  # required on platform docker, not used on kubernetes
    scrape_interval_s: Annotated[int, Field(ge=5, le=300)] = 15
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 15
    thresholds: Thresholds = Thresholds()
    prometheus_port: Port = 9090
    alertmanager_port: Port = 9093
    grafana_port: Port = 3000
    # Off where no Grafana image can be had (the local image set has none).
    grafana: bool = True
