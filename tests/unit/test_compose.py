"""docker-compose.yml is never run here (no Docker engine): check it is consistent instead."""
import re
from pathlib import Path

import click
import pytest
import yaml

from movierec.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_redis_has_aof_healthcheck_and_named_volume(compose):
    redis = compose["services"]["redis"]
    assert "--appendonly" in redis["command"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert redis["command"][redis["command"].index("--maxmemory-policy") + 1] == "noeviction"
    assert "healthcheck" in redis
    volume = redis["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]


def test_redis_lets_in_only_the_movierec_user_with_the_password_the_services_use(compose):
    command = compose["services"]["redis"]["command"]
    users = [command[i + 1:i + 3] for i, arg in enumerate(command) if arg == "--user"]
    assert ["default", "off"] in users and ["movierec", "on"] in users
    password = command[command.index("movierec") + 2]
    assert password.startswith(">${REDIS_PASSWORD:?")
    url = compose["x-movierec"]["environment"]["REDIS_URL"]
    assert url.startswith("redis://movierec:${REDIS_PASSWORD:?") and url.endswith("@redis:6379/0")
    assert "${REDIS_PASSWORD}" in compose["services"]["redis"]["healthcheck"]["test"]


def test_the_api_keys_are_required_from_the_environment(compose):
    environment = compose["x-movierec"]["environment"]
    for name in ("MOVIEREC_WRITE_KEYS", "MOVIEREC_ADMIN_KEYS"):
        assert environment[name] == f"${{{name}:?set {name}}}"


def test_api_and_two_workers_come_from_the_one_dockerfile(compose):
    services = compose["services"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("api", "worker"):
        assert services[name]["build"]["context"] == "."
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert services[name]["environment"]["REDIS_URL"].endswith("@redis:6379/0")


def movierec_services(compose) -> dict:
    """The services that run a movierec command (not Redis, nor the optional Spark profile)."""
    return {name: service for name, service in compose["services"].items()
            if name != "redis" and not service.get("profiles")}


def test_every_service_command_is_a_real_movierec_command(compose):
    checked = 0
    for name, service in movierec_services(compose).items():
        program, subcommand, *args = service["command"]
        assert program == "movierec", name
        ctx = click.Context(main)
        command = main.get_command(ctx, subcommand)
        assert command is not None, f"{name}: movierec has no command {subcommand!r}"
        command.make_context(subcommand, list(args))  # raises on an unknown option
        checked += 1
    assert checked >= 4
    assert compose["services"]["trainer"]["command"][1:] == ["worker", "--retrains"]
    assert compose["services"]["scheduler"]["command"][1:] == ["scheduler"]


def test_make_run_starts_the_same_roles_as_compose(compose):
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines())
    services = {name: " ".join(s["command"]) for name, s in movierec_services(compose).items()}
    assert {name: cmd.split(" ", 1)[1] for name, cmd in procfile.items()} == \
           {name: cmd.split(" ", 1)[1].replace(" --port 8000", "")
            for name, cmd in services.items()}


def test_dockerfile_copies_what_exists():
    dockerfile = (ROOT / "Dockerfile").read_text()
    sources = re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M)
    assert sources
    for line in sources:
        for src in line.split():
            assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"


def test_the_api_container_listens_outside_itself(compose):
    """HOST defaults to this machine's loopback, which in a container nobody else reaches."""
    assert compose["services"]["api"]["environment"]["HOST"] == "0.0.0.0"
    assert compose["services"]["api"]["environment"]["REDIS_URL"].endswith("@redis:6379/0")
    env_lines = re.findall(r"^ENV (.+)$", (ROOT / "Dockerfile").read_text(), flags=re.M)
    assert "HOST=0.0.0.0" in " ".join(env_lines).split()


def test_the_spark_profile_is_a_master_and_a_worker_the_trainer_can_point_at(compose):
    services = compose["services"]
    master, worker = services["spark-master"], services["spark-worker"]
    assert master["profiles"] == worker["profiles"] == ["spark"]
    assert master["command"][:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    host = master["command"][master["command"].index("--host") + 1]
    port = master["command"][master["command"].index("--port") + 1]
    assert worker["command"] == ["spark-class", "org.apache.spark.deploy.worker.Worker",
                                 f"spark://{host}:{port}"]
    assert host == "spark-master" and worker["depends_on"] == ["spark-master"]
    # the worker runs the retrain's Python tasks: the same image, the same Redis settings
    assert worker["build"]["context"] == "." and worker["environment"]["REDIS_URL"].endswith(
        "@redis:6379/0")
    trainer = services["trainer"]["environment"]
    assert trainer["MOVIEREC_TRAIN_ENGINE"] == "${MOVIEREC_TRAIN_ENGINE:-local}"
    assert trainer["SPARK_LOCAL_HOSTNAME"] == "trainer"
    # the image has pyspark and Java when built with EXTRAS=spark
    assert compose["x-movierec"]["build"]["args"]["EXTRAS"] == "${MOVIEREC_EXTRAS:-}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "openjdk-17-jre-headless" in dockerfile and '[$EXTRAS]' in dockerfile
    from movierec.java import JAVA_PACKAGE
    assert JAVA_PACKAGE in dockerfile
