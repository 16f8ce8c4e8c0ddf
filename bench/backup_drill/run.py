"""The restore drill, measured: seconds per GB restored on this machine.

    ./venv/bin/python -m bench.backup_drill.run            # about 5 min; prints the figures, writes results.md
    ./venv/bin/python -m bench.backup_drill.run --quick    # the smallest size only

For each size: a volume of that many bytes (random, so nothing compresses or deduplicates;
one file in 256 of 1 MiB, the rest 64 KiB) and a Redis of 200,000 keys (DEBUG POPULATE,
about 20 MB of RDB), backed up once by the rendered backup.sh into a local repository, then
the rendered drill.sh run three times; the median drill time, the bytes its record says it
restored, and their ratio. Real restic, redis-server from Debian's packages, nothing
mocked; the repository on the same disk as the scratch directory, so a figure is one disk's
read and write plus restic's decryption and hashing (a remote repository adds its own
transfer). The drill reads each volume twice (restore, then `restic dump` for the
checksums): the figure includes both.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from components.config import RetentionConfig
from components.render.backup import BackupSpec, render_backup_script
from components.render.backup_drill import DrillSpec, render_drill_script
from tests.rendered.backup_servers import RedisServer

RESULTS = Path(__file__).with_name("results.md")
SIZES_MB = (256, 1024)
REDIS_KEYS = 200_000
RUNS = 3


def make_volume(path: Path, size_mb: int) -> None:
    path.mkdir(parents=True)
    written, index = 0, 0
    target = size_mb * 1024 * 1024
    while written < target:
        chunk = 1024 * 1024 if index % 256 == 0 else 64 * 1024
        directory = path / f"d{index // 500:03d}"
        directory.mkdir(exist_ok=True)
        (directory / f"f{index:06d}.bin").write_bytes(os.urandom(chunk))
        written += chunk
        index += 1


def measure(size_mb: int, root: Path) -> dict[str, float]:
    redis = RedisServer(root / "redis", "bench-password", extra=["--enable-debug-command", "yes"])
    try:
        client = redis.client()
        client.call("DEBUG", "POPULATE", REDIS_KEYS, "key", 100)
        client.close()
        volume = root / "volumes" / "data"
        make_volume(volume, size_mb)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "TZ": "UTC",
            "RESTIC_PASSWORD": "bench",
            "RESTIC_CACHE_DIR": str(root / "cache"),
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(redis.port),
            "REDISCLI_AUTH": "bench-password",
        }
        backup = BackupSpec(
            stack="bench",
            repository=str(root / "repo"),
            retention=RetentionConfig(),
            database="none",
            redis=True,
            volume_paths={"data": str(volume)},
            verify_subset="1%",
            textfile_dir=str(root / "textfile"),
            work_dir=str(root / "work"),
        )
        drill = DrillSpec(backup, "0 4 * * 0", True, 10, True, False, 64, 52, records_dir=str(root / "records"))
        scripts = root / "scripts"
        scripts.mkdir()
        (scripts / "backup.sh").write_text(render_backup_script(backup))
        (scripts / "drill.sh").write_text(render_drill_script(drill))
        for script in scripts.iterdir():
            script.chmod(0o755)
        started = time.monotonic()
        subprocess.run([str(scripts / "backup.sh")], env=env, check=True, capture_output=True, timeout=3600)
        backup_s = time.monotonic() - started
        times: list[float] = []
        for _ in range(RUNS):
            started = time.monotonic()
            done = subprocess.run([str(scripts / "drill.sh")], env=env, capture_output=True, text=True, timeout=3600)
            times.append(time.monotonic() - started)
            if done.returncode != 0:
                raise RuntimeError(f"the drill failed: {done.stderr[-2000:]}")
        record = json.loads(sorted((root / "records").glob("drill-*.json"))[-1].read_text())
        seconds = statistics.median(times)
        gb = record["restored_bytes"] / 1e9
        return {
            "size_mb": size_mb,
            "restored_gb": gb,
            "backup_s": backup_s,
            "drill_s": seconds,
            "drill_min_s": min(times),
            "drill_max_s": max(times),
            "s_per_gb": seconds / gb,
        }
    finally:
        redis.stop()


def main() -> int:
    sizes = SIZES_MB[:1] if "--quick" in sys.argv else SIZES_MB
    started = time.time()
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="webstack-drill-bench-") as tmp:
            row = measure(size, Path(tmp))
        rows.append(row)
        print(
            f"volume {size} MiB + Redis {REDIS_KEYS} keys: {row['restored_gb']:.3f} GB restored, drill "
            f"{row['drill_s']:.1f} s (median of {RUNS}), {row['s_per_gb']:.1f} s/GB; backup {row['backup_s']:.1f} s",
            flush=True,
        )
    restic = subprocess.run(["restic", "version"], capture_output=True, text=True).stdout.strip()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    lines = [
        "# The restore drill: seconds per GB restored (`python -m bench.backup_drill.run`)",
        "",
        f"Run {when}. Machine: {platform.machine()}, {os.cpu_count()} cores shared, load average "
        f"{os.getloadavg()[0]:.2f} at the end; {restic}; repository and scratch on the same local disk.",
        f"Each drill: Redis ({REDIS_KEYS} keys) and one volume of random data; median of {RUNS} drills.",
        "",
        "| volume (MiB) | restored (GB) | backup (s) | drill median (s) | min-max (s) | s per GB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['size_mb']:.0f} | {r['restored_gb']:.3f} | {r['backup_s']:.1f} | {r['drill_s']:.1f} | "
            f"{r['drill_min_s']:.1f}-{r['drill_max_s']:.1f} | {r['s_per_gb']:.1f} |"
        )
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
