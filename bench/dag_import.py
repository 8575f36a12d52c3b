"""``import``: the time to import each DAG file in a fresh interpreter.

Each run is a new Python process that first imports ``airflow.sdk`` (timed on its own: every DAG
file pays it, and the DAG processor has it loaded already) and then runs the DAG file with
``runpy`` (timed: the file's own cost). The median of several runs is reported, after one
unmeasured warm-up run that lets Airflow write its configuration into a throwaway home.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import Figure, within

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "dags"
BUDGET_SECONDS = 1.0

PROBE = """
import json, runpy, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
before = set(sys.modules)
runpy.run_path(sys.argv[1], run_name="bench_dag_import")
t2 = time.perf_counter()
added = sorted({m.split(".")[0] for m in set(sys.modules) - before})
print(json.dumps({"sdk": t1 - t0, "dag": t2 - t1, "added_packages": added, "added_modules": len(set(sys.modules) - before)}))
"""


def environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        }
    )
    return env


def probe(dag_file: Path, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(dag_file)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"Importing {dag_file.name} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(repeat: int = 5) -> list[Figure]:
    """Time every DAG file ``repeat`` times (median) and the bare ``import airflow.sdk``."""
    figures: list[Figure] = []
    sdk_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bc-sales-sync-bench-import-") as home:
        env = environment(Path(home))
        files = sorted(DAGS.glob("*.py"))
        for dag_file in files:
            probe(dag_file, env)  # warm-up: writes airflow.cfg, fills the bytecode caches
            runs = [probe(dag_file, env) for _ in range(repeat)]
            sdk_times += [r["sdk"] for r in runs]
            dag = statistics.median(r["dag"] for r in runs)
            figures.append(
                Figure(
                    "import",
                    f"dags/{dag_file.name}: import time beyond airflow.sdk (median of {repeat})",
                    round(dag, 4),
                    "s",
                    f"< {BUDGET_SECONDS:g} s",
                    within(dag, BUDGET_SECONDS),
                    detail={
                        "all_seconds": [round(r["dag"], 4) for r in runs],
                        "with_airflow_sdk_seconds": round(statistics.median(r["sdk"] + r["dag"] for r in runs), 4),
                        "added_top_level_packages": runs[-1]["added_packages"],
                        "added_modules": runs[-1]["added_modules"],
                    },
                )
            )
    if sdk_times:
        figures.append(
            Figure(
                "import",
                f"bare 'import airflow.sdk' in a fresh interpreter (median of {len(sdk_times)})",
                round(statistics.median(sdk_times), 4),
                "s",
                detail={"all_seconds": [round(t, 4) for t in sdk_times]},
            )
        )
    return figures
