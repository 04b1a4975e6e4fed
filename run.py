"""WSGI entry: ``gunicorn run:app`` or ``flask --app run run``."""

from hcl_server import create_app

app = create_app()
