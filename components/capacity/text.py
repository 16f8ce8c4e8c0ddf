"""The capacity report as text: what the offline plan (tools/plan.py) and tools/capacity.py print.

One line per host (placed / available after the reserve), then the monthly cost against the
budget. Pure: no Pulumi import.
"""

from __future__ import annotations

from components.capacity.hosts import figure
from components.capacity.report import CapacityReport


def render_text(report: CapacityReport) -> str:
    """The report as the offline plan prints it."""
    lines = ["capacity (placed / available after the reserve; memory at a deploy's peak, CPU limits, disk estimated):"]
    if not report.hosts:
        lines.append("  no hosts (platform kubernetes: the cluster schedules every part)")
    width = max([len(h.name) for h in report.hosts] + [4])
    for h in report.hosts:
        if h.size is None:
            figures = (
                f"memory {h.memory_peak_mb} MB, CPU limits {figure(h.cpus)}, disk {figure(round(h.disk_gb, 1))} GB"
            )
            lines.append(f"  {h.name:<{width}}  no size: not checked ({figures})")
            continue
        lines.append(
            f"  {h.name:<{width}}  {h.size.plan or 'own size':<20}  memory {h.memory_peak_mb}/{h.available_memory_mb} MB"
            f"  CPUs {figure(h.cpus)}/{figure(h.available_cpus or 0.0)}"
            f"  disk {figure(round(h.disk_gb, 1))}/{h.available_disk_gb} GB"
        )
    cost = report.cost
    if not cost.known:
        lines.append(f"monthly cost ({cost.currency}): not known (platform kubernetes)")
    else:
        text = f"monthly cost: {cost.describe()}"
        if cost.unpriced:
            text += f" (unpriced: {', '.join(cost.unpriced)})"
        if cost.budget is not None:
            over = cost.over_budget
            text += f"; budget {cost.budget:.2f}" + (f", OVER by {over:.2f}" if over is not None else "")
        lines.append(text)
    return "\n".join(lines)
