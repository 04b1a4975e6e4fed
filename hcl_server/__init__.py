"""hcl_server: the Flask + Celery service around ml_pipeline."""

from __future__ import annotations

import json
import logging

import click
from flask import Flask
from flask.cli import AppGroup

from config import BASE_DIR, Config
from hcl_server import extensions as ext  # not `import db`: the hcl_server.db package would shadow it
from hcl_server.api.document import openapi
from hcl_server.api.rate_limit import init_rate_limit
from hcl_server.celery_app import init_celery
from hcl_server.generation import init_generation
from hcl_server.storage import init_storage


def create_app(test_config: dict | None = None) -> Flask:
    """Application factory: settings from config.Config, overridden by ``test_config``."""
    app = Flask(__name__)
    app.config.from_mapping(Config().as_flask())
    if test_config:
        app.config.from_mapping(test_config)
        if "DATABASE_URL" in test_config:
            app.config["SQLALCHEMY_DATABASE_URI"] = test_config["DATABASE_URL"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


SQLITE_BUSY_TIMEOUT_S = 60


def register_extensions(app: Flask) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        from pathlib import Path

        Path(app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///") :]).parent.mkdir(
            parents=True, exist_ok=True
        )
        # Writers wait up to a minute for another process's write: a bulk partition storing its
        # 100,000 predictions holds the lock for seconds, and the driver's default wait of 5 s
        # made a concurrent partition fail with "database is locked".
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["connect_args"] = {**options.get("connect_args", {}), "timeout": SQLITE_BUSY_TIMEOUT_S}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    ext.db.init_app(app)
    ext.migrate.init_app(app, ext.db, directory=str(BASE_DIR / "migrations"))
    ext.csrf.init_app(app)
    openapi.init_app(app)
    openapi.spec.components.security_scheme("ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    openapi.spec.options["security"] = [{"ApiKey": []}]
    init_storage(app)
    init_generation(app)
    init_celery(app)
    init_rate_limit(app)


def register_blueprints(app: Flask) -> None:
    from hcl_server import web
    from hcl_server.api import (
        api_keys,
        bulk,
        customers,
        dashboard,
        datasets,
        docs,
        health,
        outcomes,
        predict,
        registry,
        settings,
        templates,
        training,
        webhooks,
    )

    app.register_blueprint(health.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(web.bp)
    for blp in (
        datasets.blp,
        training.jobs,
        training.models,
        registry.blp,
        predict.blp,
        bulk.blp,
        customers.blp,
        templates.blp,
        settings.blp,
        api_keys.blp,
        webhooks.blp,
        outcomes.blp,
        dashboard.blp,
    ):
        openapi.register_blueprint(blp)


def register_errorhandlers(app: Flask) -> None:
    from hcl_server.api.errors import register_error_handlers

    register_error_handlers(app)


def _json(value: dict) -> str:
    """One line of JSON, dates as ISO 8601."""
    return json.dumps(value, default=lambda v: v.isoformat())


def register_commands(app: Flask) -> None:
    orgs = AppGroup("orgs", help="Manage organizations.")

    @orgs.command("create")
    @click.argument("name")
    def create(name: str) -> None:
        """Create an organization; prints its id and API key (shown once) as JSON."""
        from hcl_server.services.orgs import create_organization

        org, key = create_organization(name)
        click.echo(json.dumps({"organization_id": org.id, "api_key": key}))

    @orgs.group("keys")
    def keys() -> None:
        """List, create, revoke and rotate an organization's API keys (JSON output)."""

    def run_key_command(action):
        from hcl_server.errors import DomainError

        try:
            return action()
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc

    @keys.command("list")
    @click.argument("org_id")
    def keys_list(org_id: str) -> None:
        """Print the organization's keys, newest first, one JSON object a line (id, prefix,
        created_at, revoked_at, active); never the keys themselves."""
        from hcl_server.services.orgs import key_summary, list_api_keys

        for row in run_key_command(lambda: list_api_keys(org_id)):
            click.echo(_json(key_summary(row)))

    @keys.command("create")
    @click.argument("org_id")
    def keys_create(org_id: str) -> None:
        """Create a key for the organization; prints it (shown once) with its id as JSON."""
        from hcl_server.services.orgs import create_api_key, key_summary

        issued = run_key_command(lambda: create_api_key(org_id))
        click.echo(_json({**key_summary(issued.row), "api_key": issued.api_key}))

    @keys.command("revoke")
    @click.argument("org_id")
    @click.argument("key_id")
    @click.option("--force", is_flag=True, help="Revoke it even if it is the organization's last active key.")
    def keys_revoke(org_id: str, key_id: str, force: bool) -> None:
        """Revoke a key: requests with it answer 401 at once. The organization's last active key
        is kept unless --force."""
        from hcl_server.services.orgs import key_summary, revoke_api_key

        click.echo(
            _json(key_summary(run_key_command(lambda: revoke_api_key(org_id, key_id, allow_last=force))))
        )

    @keys.command("rotate")
    @click.argument("org_id")
    @click.argument("key_id")
    def keys_rotate(org_id: str, key_id: str) -> None:
        """Create a new key and revoke KEY_ID at once; prints the new key (shown once) as JSON."""
        from hcl_server.services.orgs import key_summary, rotate_api_key

        issued = run_key_command(lambda: rotate_api_key(org_id, key_id))
        click.echo(
            _json(
                {
                    **key_summary(issued.row),
                    "api_key": issued.api_key,
                    "replaces": key_summary(issued.replaces),
                }
            )
        )

    app.cli.add_command(orgs)

    work = AppGroup("jobs", help="Look after background work.")

    @work.command("reconcile")
    def reconcile() -> None:
        """One reconciler pass now: re-send lost tasks, take over work whose worker died. Prints
        how many tasks it sent, by task name, as JSON."""
        from hcl_server.services.reconcile import reconcile as run

        click.echo(json.dumps(dict(run())))

    app.cli.add_command(work)
