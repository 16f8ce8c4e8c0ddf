"""Another team's project: a worker that counts jobs in the webstack stack's Redis.

It reads the webstack stack's outputs through a `pulumi.StackReference` on the same
backend, as any consumer of the contract (docs/outputs.md) does, and uses only them:
`redisUrl` (secret: it stays secret in this stack's state too), `hosts[].roles` and
`hosts[].network` (where Redis runs and the Docker network that reaches it by name), and
`services.backend.image` (an image that has Python and a Redis client). It runs on the
webstack stack's local Docker engine (the `local` stack); config:

    pulumi config set webstackStack organization/webstack/local
"""

from typing import Any

import pulumi
import pulumi_docker as docker

config = pulumi.Config()
webstack = pulumi.StackReference(config.require("webstackStack"))
redis_url = webstack.require_output("redisUrl")


def redis_host(hosts: list[dict[str, Any]]) -> dict[str, Any]:
    return next(h for h in hosts if "redis" in h["roles"])


network = webstack.require_output("hosts").apply(lambda hosts: str(redis_host(hosts)["network"]))
image = webstack.require_output("services").apply(lambda services: str(services["backend"]["image"]))

# Each beat: INCR a counter and note the time, every 2 s; reconnects after a Redis restart.
WORKER = """
import os, time, redis
client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)
while True:
    try:
        client.incr("consumer:beats")
        client.set("consumer:last-beat", str(time.time()))
    except redis.RedisError as error:
        print("redis:", error, flush=True)
    time.sleep(2)
"""

worker = docker.Container(
    "worker",
    name=f"consumer-{pulumi.get_stack()}-worker",
    image=image,
    command=["python3", "-c", WORKER],
    envs=[redis_url.apply(lambda url: f"REDIS_URL={url}")],
    networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network)],
    restart="unless-stopped",
    memory=128,
    capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
    user="65534:65534",
)

pulumi.export("worker", worker.name)
pulumi.export("network", network)
pulumi.export("redisUrl", redis_url)  # secret, as read
