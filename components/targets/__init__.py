"""Where components deploy: VPS hosts over SSH, a Kubernetes cluster."""
