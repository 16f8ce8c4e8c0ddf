"""KubernetesCluster: the kubernetes platform's counterpart of VpsHost.

It owns the kubernetes Provider every component declares its objects with (applying to
the cluster through the kubeconfig secret and its context, or writing the manifests to a
directory with `kubernetes.renderToDirectory`), the stack's namespace (Pod Security
`restricted` enforced) and the namespace's default-deny ingress NetworkPolicy that the
components' own policies open up.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config import KubernetesConfig
from components.render import kubernetes as manifests
from components.targets.kube import declare


@dataclass
class KubernetesClusterArgs:
    kubernetes: KubernetesConfig
    stack: str
    kubeconfig: pulumi.Input[str] | None = None


class KubernetesCluster(pulumi.ComponentResource):
    provider: k8s.Provider
    namespace: pulumi.CustomResource

    def __init__(self, name: str, args: KubernetesClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:cluster:KubernetesCluster", name, None, opts)
        cfg = args.kubernetes
        self.config = cfg
        self.target = manifests.Target(namespace=cfg.namespace, stack=args.stack)
        self.rendering = cfg.render_to_directory is not None
        if self.rendering:
            self.provider = k8s.Provider(
                f"{name}-provider",
                render_yaml_to_directory=cfg.render_to_directory,
                namespace=cfg.namespace,
                opts=pulumi.ResourceOptions(parent=self),
            )
        else:
            self.provider = k8s.Provider(
                f"{name}-provider",
                kubeconfig=pulumi.Output.secret(args.kubeconfig or ""),
                context=cfg.context,
                namespace=cfg.namespace,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.namespace = declare(
            f"{name}-namespace", manifests.namespace(self.target), parent=self, provider=self.provider
        )
        self.default_deny = declare(
            f"{name}-default-deny",
            manifests.default_deny_ingress(self.target),
            parent=self,
            provider=self.provider,
            depends_on=[self.namespace],
        )
        self.register_outputs({"namespace": cfg.namespace, "renderToDirectory": cfg.render_to_directory})

    def declare(
        self,
        resource_name: str,
        manifest: manifests.Manifest,
        *,
        parent: pulumi.Resource,
        depends_on: list[pulumi.Resource] | None = None,
        **overrides: object,
    ) -> pulumi.CustomResource:
        """A namespaced object of a component: after the namespace, with this cluster's provider."""
        return declare(
            resource_name,
            manifest,
            parent=parent,
            provider=self.provider,
            depends_on=[self.namespace, *(depends_on or [])],
            **overrides,
        )
