"""Where components deploy: VPS hosts reached over SSH (platform docker) or a Kubernetes
cluster (platform kubernetes). A component's args name its target; the component looks at
which of the two it got in one place and declares its resources there."""

from collections.abc import Mapping

from components.targets.cluster import KubernetesCluster
from components.targets.vps_host import VpsHost

# Platform docker: the hosts a component deploys to, by name.
Hosts = Mapping[str, VpsHost]

__all__ = ["Hosts", "KubernetesCluster", "VpsHost"]
