"""Edge benchmark: our rendered edge against the seed's nginx.conf and the app served directly.

    ./venv/bin/python -m bench.edge [--duration 10] [--connections 50] [--threads 2] [--rounds 5]

On this machine, with the same upstream for every run: an nginx "app" (Debian's nginx,
`return 200` with a fixed JSON body, access log off, one worker) listening on three
ports, the three replicas of the production stack's back end. In front of it, each on
its own loopback ports and with the same self-signed certificate:

- ours: the production stack's edge config from `components.render.nginx`, with the API
  rate limit raised (and still evaluated) so that the measured route is not refused;
- seed: the seed's own nginx.conf (`seed_nginx.conf`, adapted by `seed.py`: ports,
  certificate paths, upstream addresses, log/pid paths, and the same raised API limit);
- direct: the app itself, plain HTTP (no proxy, no TLS): the ceiling.

wrk (Debian's package), a separate process, runs the same threads/connections/duration
against `GET /api/items` on each, over TLS with keep-alive for the two edges. The runs
are interleaved round by round (the machine is shared: its load drifts) and the median
of the rounds is reported, with the CPU time each process spent per request (wrk, the
edge's workers, the app's workers), which drifts much less than throughput does. The
table is printed and written to `bench/edge/results.md`.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from components.config import RateLimit, StackConfig
from components.config.stackfile import read_stack_file
from components.load import load_stack_config
from components.render.nginx import NginxRuntime, edge_spec, render_nginx_conf

from .seed import Change, adapt, changes, seed_text

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"
STACK = "production"
PATH = "/api/items"
# The raised API limit, the same on both edges: far above what this machine can serve,
# so the route is measured with its limit_req still in the request path.
RAISED = RateLimit(rate=100_000, burst=100_000)
APP_BODY = '{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"},{"id":3,"name":"gamma"}],"total":3,"page":1}'
PACKAGES = {"nginx": "nginx-light", "wrk": "wrk", "openssl": "openssl"}
TICK = os.sysconf("SC_CLK_TCK")


def need(command: str) -> str:
    path = shutil.which(command) or (f"/usr/sbin/{command}" if Path(f"/usr/sbin/{command}").exists() else None)
    if path is None:
        sys.exit(f"{command} is not installed: apt-get install -y --no-install-recommends {PACKAGES[command]}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def app_conf(workdir: Path, ports: list[int], workers: int) -> str:
    listens = "\n".join(f"        listen 127.0.0.1:{p};" for p in ports)
    return f"""# The bench's app: a fixed JSON answer, as cheap as an upstream gets.
worker_processes {workers};
pid {workdir}/app.pid;
error_log {workdir}/app-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {workdir}/app-tmp;
    server {{
{listens}
        location / {{
            default_type application/json;
            return 200 '{APP_BODY}';
        }}
    }}
}}
"""


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Nginx:
    def __init__(self, name: str, workdir: Path, text: str) -> None:
        self.name = name
        self.conf = workdir / f"{name}.conf"
        self.conf.write_text(text)
        self.errors = workdir / f"{name}-startup.log"
        base = [need("nginx"), "-c", str(self.conf), "-p", str(workdir), "-e", str(self.errors)]
        checked = subprocess.run([*base, "-t"], capture_output=True, text=True, check=False)
        if checked.returncode != 0:
            sys.exit(f"nginx -t rejected the {name} config:\n{checked.stderr}")
        self.process = subprocess.Popen(
            [*base, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def wait_port(self, port: int) -> None:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"{self.name} nginx did not start: {self.errors.read_text(errors='replace')}")
                time.sleep(0.05)

    def workers(self) -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.workers())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass(frozen=True)
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    # CPU time per request, in microseconds: the client (wrk), the edge's workers, the app's.
    cpu_client_us: float = 0.0
    cpu_edge_us: float = 0.0
    cpu_app_us: float = 0.0

    @property
    def cpu_total_us(self) -> float:
        return self.cpu_client_us + self.cpu_edge_us + self.cpu_app_us


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"not a wrk latency: {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_wrk(output: str) -> Run:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, flags=re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, flags=re.MULTILINE)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return Run(float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), int(total.group(1)), errors)


def wrk(url: str, *, threads: int, connections: int, duration: int, edge: Nginx | None, app: Nginx) -> Run:
    args = [need("wrk"), f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url]
    edge_before, app_before = (edge.cpu() if edge else 0.0), app.cpu()
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{output}")
    run = parse_wrk(output)
    per_request = 1e6 / max(run.requests, 1)
    return replace(
        run,
        cpu_client_us=(usage.ru_utime + usage.ru_stime) * per_request,
        cpu_edge_us=((edge.cpu() - edge_before) if edge else 0.0) * per_request,
        cpu_app_us=(app.cpu() - app_before) * per_request,
    )


def production_config() -> StackConfig:
    raw, secret_keys = read_stack_file(STACK)
    config = load_stack_config(STACK, raw, secret_keys, placeholder_secrets=True)
    edge = config.edge.model_copy(update={"api_rate": RAISED})
    return config.model_copy(update={"edge": edge})


def certificate(workdir: Path) -> tuple[Path, Path]:
    # RSA: the seed's TLS 1.2 cipher list has RSA suites only (both edges use this file).
    crt, key = workdir / "edge.crt", workdir / "edge.key"
    subprocess.run(
        [
            *(need("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bench"),
            *("-keyout", str(key), "-out", str(crt), "-addext", "subjectAltName=DNS:example.com,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nginx = subprocess.run([need("nginx"), "-v"], capture_output=True, text=True, check=False).stderr.strip()
    wrk_v = subprocess.run([need("wrk"), "-v"], capture_output=True, text=True, check=False).stdout.splitlines()
    openssl = subprocess.run([need("openssl"), "version"], capture_output=True, text=True, check=False).stdout.split()
    return (
        f"{os.cpu_count()} vCPU ({cpu}, a shared VM), Linux {platform.release()}, "
        f"{nginx.replace('nginx version: ', '')}, OpenSSL {openssl[1] if len(openssl) > 1 else '?'}, "
        f"wrk {wrk_v[0].split(' [')[0].removeprefix('wrk ') if wrk_v else '?'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edge", description="Edge benchmark (see bench/edge).")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="runs of each target; the median is reported")
    parser.add_argument("--app-workers", type=int, default=1, help="worker processes of the upstream app")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write results.md")
    args = parser.parse_args(argv)
    for tool in PACKAGES:
        need(tool)

    workdir = Path(tempfile.mkdtemp(prefix="webstack-bench-edge-"))
    workdir.chmod(0o755)
    (workdir / "tmp").mkdir(mode=0o755)
    servers: list[Nginx] = []
    try:
        crt, key = certificate(workdir)
        app_ports = [free_port() for _ in range(3)]
        app = Nginx("app", workdir, app_conf(workdir, app_ports, args.app_workers))
        servers.append(app)
        b1, b2, b3 = (f"127.0.0.1:{p}" for p in app_ports)

        ours_port, ours_http, seed_port, seed_http = free_port(), free_port(), free_port(), free_port()
        runtime = NginxRuntime(
            user=None,
            pid=str(workdir / "ours.pid"),
            error_log=str(workdir / "ours-error.log"),
            access_log=str(workdir / "ours-access.log"),
            temp_dir=str(workdir / "tmp"),
        )
        spec = edge_spec(
            production_config(),
            {"backend": [b1, b2, b3], "frontend": [b1, b2]},
            certificate=str(crt),
            certificate_key=str(key),
            http_listen=f"127.0.0.1:{ours_http}",
            https_listen=f"127.0.0.1:{ours_port}",
            runtime=runtime,
        )
        # No stub_status listener: its port (8081) is the container's, and it is not measured.
        ours = Nginx("ours", workdir, render_nginx_conf(replace(spec, status_listen=None)))
        servers.append(ours)
        edits = changes(
            workdir=workdir,
            upstreams=(b1, b2, b3),
            http_listen=f"127.0.0.1:{seed_http}",
            https_listen=f"127.0.0.1:{seed_port}",
            certificate=crt,
            certificate_key=key,
            rate_per_s=RAISED.rate,
            burst=RAISED.burst,
        )
        seed = Nginx("seed", workdir, adapt(seed_text(), edits))
        servers.append(seed)
        app.wait_port(app_ports[0])
        ours.wait_port(ours_port)
        seed.wait_port(seed_port)

        targets: dict[str, tuple[str, Nginx | None]] = {
            "ours": (f"https://127.0.0.1:{ours_port}{PATH}", ours),
            "seed": (f"https://127.0.0.1:{seed_port}{PATH}", seed),
            "direct": (f"http://127.0.0.1:{app_ports[0]}{PATH}", None),
        }
        load = {"threads": args.threads, "connections": args.connections}
        for url, edge in targets.values():  # warm up: connections, session caches, page cache
            wrk(url, duration=2, edge=edge, app=app, **load)
        runs: dict[str, list[Run]] = {name: [] for name in targets}
        load_before = os.getloadavg()[0]
        for round_no in range(1, args.rounds + 1):
            for name, (url, edge) in targets.items():
                run = wrk(url, duration=args.duration, edge=edge, app=app, **load)
                runs[name].append(run)
                print(
                    f"round {round_no} {name:6} {run.rps:9.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
                    f"p99 {run.p99_ms:6.2f} ms  errors {run.errors}  CPU us/req: client {run.cpu_client_us:.1f} "
                    f"edge {run.cpu_edge_us:.1f} app {run.cpu_app_us:.1f}",
                    file=sys.stderr,
                    flush=True,
                )
        # The report names the changes with placeholders, not this run's paths and ports.
        shown = changes(
            workdir=Path("$WORK"),
            upstreams=("127.0.0.1:$APP1", "127.0.0.1:$APP2", "127.0.0.1:$APP3"),
            http_listen="127.0.0.1:$HTTP",
            https_listen="127.0.0.1:$HTTPS",
            certificate=Path("$WORK/edge.crt"),
            certificate_key=Path("$WORK/edge.key"),
            rate_per_s=RAISED.rate,
            burst=RAISED.burst,
        )
        args.load = (load_before, os.getloadavg()[0])
        report = render_report(runs, args, shown)
        print(report)
        if not args.no_write:
            RESULTS.write_text(report)
            print(f"written to {RESULTS}", file=sys.stderr)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.rps for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.requests for r in runs),
        sum(r.errors for r in runs),
        statistics.median(r.cpu_client_us for r in runs),
        statistics.median(r.cpu_edge_us for r in runs),
        statistics.median(r.cpu_app_us for r in runs),
    )


def render_report(runs: dict[str, list[Run]], args: argparse.Namespace, edits: list[Change]) -> str:
    med = {name: _median(rs) for name, rs in runs.items()}
    ours, seed, direct = med["ours"], med["seed"], med["direct"]
    rounds = range(args.rounds)
    per_round_seed = statistics.median(runs["ours"][i].rps / runs["seed"][i].rps for i in rounds)
    per_round_direct = statistics.median(runs["ours"][i].rps / runs["direct"][i].rps for i in rounds)
    labels = {
        "ours": "ours (rendered production edge, TLS)",
        "seed": "seed's nginx.conf (TLS)",
        "direct": "app directly (plain HTTP)",
    }
    lines = [
        "# Edge benchmark results",
        "",
        f"Machine: {machine()}.",
        f"Command: `./venv/bin/python -m bench.edge --duration {args.duration} --connections {args.connections} "
        f"--threads {args.threads} --rounds {args.rounds} --app-workers {args.app_workers}` "
        f"(wrk `-t{args.threads} -c{args.connections} -d{args.duration}s --latency`, keep-alive, `GET {PATH}`); "
        f"medians of {args.rounds} interleaved rounds. Load average (1 min) of the machine: "
        f"{args.load[0]:.1f} before, {args.load[1]:.1f} after (other jobs share these vCPUs).",
        "",
        "| target | req/s | p50 ms | p99 ms | errors | CPU us/request: wrk | edge | app | total |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, run in med.items():
        edge_cpu = f"{run.cpu_edge_us:.1f}" if name != "direct" else "-"
        lines.append(
            f"| {labels[name]} | {run.rps:,.0f} | {run.p50_ms:.2f} | {run.p99_ms:.2f} | {run.errors} "
            f"| {run.cpu_client_us:.1f} | {edge_cpu} | {run.cpu_app_us:.1f} | {run.cpu_total_us:.1f} |"
        )
    lines += [
        "",
        f"- ours / seed, throughput: **{ours.rps / seed.rps:.2f}x** (median of the rounds' ratios "
        f"{per_round_seed:.2f}x; goal at least 2.5x)",
        f"- ours / seed, p99: **{ours.p99_ms / seed.p99_ms:.2f}** (goal at most 1.0)",
        f"- ours / direct, throughput: **{ours.rps / direct.rps:.0%}** (median of the rounds' ratios "
        f"{per_round_direct:.0%}; goal at least 45%)",
        f"- CPU time per request, direct / ours: {direct.cpu_total_us / ours.cpu_total_us:.0%} "
        "(what ours / direct would be if both runs were bound only by CPU time)",
        f"- seed / direct, throughput: {seed.rps / direct.rps:.0%}",
        "",
        "Every round (req/s, p50 ms, p99 ms):",
        "",
        "| round | " + " | ".join(runs) + " |",
        "| --- | " + " | ".join("---" for _ in runs) + " |",
    ]
    for i in rounds:
        cells = [f"{rs[i].rps:,.0f}, {rs[i].p50_ms:.2f}, {rs[i].p99_ms:.2f}" for rs in runs.values()]
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    lines += ["", "What was changed in the seed's config to run it here (`bench/edge/seed.py`):", ""]
    lines += [f"- `{c.old.strip()}` -> `{c.new.strip() or '(removed)'}`: {c.why}" for c in edits]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
