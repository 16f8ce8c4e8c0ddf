"""Compare the offline plans of this checkout against another commit's (a refactor's proof).

    python -m tools.plan_compare e4a80e1                  # local, staging, production, production-k8s
    python -m tools.plan_compare e4a80e1 --stack fleet    # a stack file git ignores is copied over

The other commit is checked out in a temporary git worktree and both run `tools.plan
STACK --json` with this checkout's virtualenv. Resources are sorted by type and name, so
only what is declared counts, not the order. Exits 1 and prints a unified diff per stack
that differs; prints one line per stack that is identical.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from components.config.stackfile import PROJECT_DIR

STACKS = ("local", "staging", "production", "production-k8s")


def plan(checkout: Path, stack: str) -> str:
    """The stack's offline plan in `checkout`, as sorted JSON text."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.plan", stack, "--json"],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"tools.plan {stack} failed in {checkout}:\n{done.stderr}")
    # The stack's SSH identity lives under the checkout: its path is not part of the plan.
    document = json.loads(done.stdout.replace(str(checkout), "<checkout>"))
    document["resources"].sort(key=lambda r: (r["type"], r["name"]))
    return json.dumps(document, indent=1, sort_keys=True)


def compare(ref: str, stacks: list[str]) -> int:
    differ = 0
    with tempfile.TemporaryDirectory(prefix="webstack-plan-") as tmp:
        other = Path(tmp) / "other"
        subprocess.run(["git", "worktree", "add", "--detach", str(other), ref], cwd=PROJECT_DIR, check=True,
                       capture_output=True)
        try:
            for stack in stacks:
                stack_file = f"Pulumi.{stack}.yaml"
                if not (other / stack_file).exists() and (PROJECT_DIR / stack_file).exists():
                    shutil.copy(PROJECT_DIR / stack_file, other / stack_file)
                before, after = plan(other, stack), plan(PROJECT_DIR, stack)
                count = len(json.loads(after)["resources"])
                if before == after:
                    print(f"{stack}: identical ({count} resources)")
                    continue
                differ = 1
                print(f"{stack}: differs")
                sys.stdout.writelines(
                    difflib.unified_diff(
                        before.splitlines(keepends=True),
                        after.splitlines(keepends=True),
                        fromfile=f"{ref}/{stack}",
                        tofile=f"HEAD/{stack}",
                    )
                )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=PROJECT_DIR, check=False)
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ref", help="the commit to compare against (e.g. the one before a move)")
    parser.add_argument("--stack", action="append", help="a stack (repeatable); default: the four in git")
    args = parser.parse_args(argv)
    return compare(args.ref, args.stack or list(STACKS))


if __name__ == "__main__":
    sys.exit(main())
