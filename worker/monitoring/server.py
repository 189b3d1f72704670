"""A real Prometheus (Debian's) for the demo: on loopback, data in the stack's folder,
scraping every demo process each second and evaluating the scaled alert rules each second.

Job names are the chart's (``fraud-worker.io/job``, the component's object name for a
release called ``fraud-worker``), so the alerts' ``by (namespace, job)`` and the dashboard
see the demo as they would see a deployment; ``namespace`` is absent outside Kubernetes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import yaml

from worker.errors import StackError
from worker.monitoring.queries import DASHBOARD
from worker.monitoring.rules import TIME_SCALE, require_chart_file, write_scaled_rules
from worker.stack import process
from worker.stack.prometheus import prometheus_executable

SCRAPE_INTERVAL_S = 1
# The chart's job names for a release called fraud-worker (templates/_helpers.tpl).
WORKER_JOB = "fraud-worker"
LABELS_JOB = "fraud-worker-labels"
RESCORE_JOB = "fraud-worker-rescore"
QUALITY_JOB = "fraud-worker-quality"
TRIAGE_JOB = "fraud-worker-triage"


@dataclass(frozen=True)
class Target:
    """One scraped endpoint: its job and ``host:port``."""

    job: str
    address: str


def scrape_config(targets: list[Target], rules: Path) -> dict[str, Any]:
    """The server's configuration: one scrape job per component, the scaled rules."""
    jobs: dict[str, list[str]] = {}
    for target in targets:
        jobs.setdefault(target.job, []).append(target.address)
    interval = f"{SCRAPE_INTERVAL_S}s"
    return {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": addresses}]}
            for job, addresses in jobs.items()
        ],
    }


@dataclass
class DemoPrometheus:
    """The server's folder (config, scaled rules, data, log) and its process."""

    folder: Path
    port: int
    scale: float = TIME_SCALE
    record: process.ProcessRecord | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "prometheus.log"

    def start(self, targets: list[Target], ready_timeout_s: float = 60) -> None:
        """A fresh data folder (the demo's span only), the config, the server, ready."""
        require_chart_file(DASHBOARD)  # before the server: the queries are asked at the end
        executable = prometheus_executable()
        process.require_free_port(self.port, "the demo's Prometheus", "--prometheus-port")
        shutil.rmtree(self.folder / "data", ignore_errors=True)
        rules = write_scaled_rules(self.folder / "alerts.scaled.yaml", scale=self.scale)
        config = self.folder / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape_config(targets, rules), sort_keys=False))
        self.log_path.unlink(missing_ok=True)
        command = [
            executable,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1d",
        ]
        self.record = process.spawn(
            command, self.log_path, self.folder / "prometheus.pid", {"PATH": "/usr/bin:/bin"}
        )
        record = self.record
        process.wait_until_answers(
            "the demo's Prometheus",
            lambda: process.is_running(record),
            self._ready,
            ready_timeout_s,
            self.log_path,
            poll_s=0.2,
        )

    def _ready(self) -> bool:
        try:
            return httpx2.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx2.HTTPError:
            return False

    def stop(self) -> None:
        if self.record is not None:
            process.stop(self.record)
            self.record = None
        (self.folder / "prometheus.pid").unlink(missing_ok=True)

    def query_range(
        self, expr: str, start_s: float, end_s: float, step_s: float = SCRAPE_INTERVAL_S
    ) -> list[dict[str, Any]]:
        """``/api/v1/query_range``'s matrix: one ``{"metric", "values"}`` per series."""
        answer = httpx2.get(
            f"{self.url}/api/v1/query_range",
            params={"query": expr, "start": start_s, "end": end_s, "step": step_s},
            timeout=30,
        )
        body = answer.json()
        if answer.status_code != 200 or body.get("status") != "success":
            raise StackError(f"Prometheus refused {expr!r}: {body.get('error', answer.text)}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result
