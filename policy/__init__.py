"""webstack's CrossGuard policy pack (pulumi-policy, Python).

The policies live in plain modules (`nginx_rules`, `cloudflare_rules`, `secrets_rules`,
`exposure_rules`, `resilience_rules`, `kubernetes_rules`) and are listed in `registry`;
`__main__` builds the `PolicyPack` (for `pulumi preview --policy-pack policy`) and
`gate` runs the same policies over a mocked run of a stack, without the Pulumi CLI.

Nothing here imports `components/`: the pack runs in its own virtualenv under the
engine, with only `requirements.txt` of this directory installed.
"""
