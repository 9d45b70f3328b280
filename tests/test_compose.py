"""deploy/compose.yaml: one clinic's PostgreSQL, migration and service, with the secrets as files."""

from __future__ import annotations

import yaml

from tests.conftest import ROOT

COMPOSE = ROOT / "deploy" / "compose.yaml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_database_keeps_its_files_in_a_named_volume() -> None:
    compose = _compose()
    database = compose["services"]["db"]
    volume = database["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert database["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
    assert "healthcheck" in database


def test_secrets_are_files_given_to_the_services_that_need_them() -> None:
    compose = _compose()
    assert set(compose["secrets"]) == {"db_password", "records_key"}
    assert all("file" in secret for secret in compose["secrets"].values())
    needed = {"migrate": {"db_password"}, "app": {"db_password", "records_key"}}
    for name, secrets in needed.items():
        service = compose["services"][name]
        assert {entry["source"] for entry in service["secrets"]} == secrets
        assert all(entry["uid"] == "10001" and entry["mode"] == 0o400 for entry in service["secrets"])
        script = service["entrypoint"][2]
        assert "/run/secrets/records_key" in script and "LESION_RECORDS_KEY" in script
        assert "/run/secrets/db_password" in script and "DATABASE_URL" in script and 'exec "$$@"' in script
    assert not any(
        "PASSWORD" in key and "FILE" not in key
        for s in compose["services"].values()
        for key in s.get("environment", {})
    )
    assert "deploy/secrets/" in (ROOT / ".gitignore").read_text()


def test_the_migration_runs_once_before_the_service() -> None:
    services = _compose()["services"]
    migrate, app = services["migrate"], services["app"]
    assert migrate["command"] == ["python", "-m", "records", "migrate"]
    assert migrate["restart"] == "no"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["image"] == app["image"] and migrate["build"]["dockerfile"] == "Dockerfile"
    assert (COMPOSE.parent / migrate["build"]["context"] / "Dockerfile").is_file()
    assert "migrate" not in " ".join(app["command"])
