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
