"""Production starts the web server exactly as `make run` does: one gunicorn configuration."""

from __future__ import annotations

import re

from optiroute.runner import gunicorn_command
from tests.conftest import ROOT

CONFIG = "python:optiroute.gunicorn_conf"


def test_it_serves_make_run_the_dockerfile_and_compose_with_one_gunicorn_configuration():
    command = gunicorn_command("127.0.0.1", 8000)
    assert command[command.index("--config") + 1] == CONFIG
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (.*)$", dockerfile, re.M)
    assert cmd is not None and cmd.group(1) == f'["gunicorn", "optiroute.wsgi", "--config", "{CONFIG}"]'
    compose = (ROOT / "docker-compose.yml").read_text()
    web = re.search(r"^  web:\n(?:    .*\n)*?    command: (.*)$", compose, re.M)
    assert web is not None and f"--config {CONFIG}" in web.group(1)


def test_its_gunicorn_configuration_loads_routing_state_before_the_first_request():
    from optiroute import gunicorn_conf

    assert callable(gunicorn_conf.post_worker_init)
    assert gunicorn_conf.workers >= 1 and gunicorn_conf.threads >= 1


def test_compose_brings_up_the_whole_system_with_what_each_service_needs():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"db", "redis", "migrate", "web", "worker", "beat"}
    assert services["db"]["image"].startswith("pgvector/pgvector:0.8")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("migrate", "web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["OPTIROUTE_ENV"] == "production"  # which refuses to start without its secrets
        assert {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"} <= set(env)
        assert "@db:5432/" in env["DATABASE_URL"] and env["REDIS_URL"].startswith("redis://redis:")
    # Migrations run once, before anything that needs them.
    assert "manage.py migrate" in services["migrate"]["command"] and services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["worker"]["command"].startswith("celery -A optiroute worker")
    assert services["beat"]["command"].startswith("celery -A optiroute beat")
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_every_setting_compose_passes_is_one_the_settings_read():
    import yaml

    settings_source = (ROOT / "optiroute" / "settings.py").read_text()
    env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["environment"]
    known_elsewhere = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "PROMETHEUS_MULTIPROC_DIR"}
    unread = [name for name in env if name not in known_elsewhere and f'"{name}"' not in settings_source]
    assert not unread, f"compose sets variables no setting reads: {unread}"
