"""`flask --app app ...` commands: schema upgrades, users and API keys from the shell."""
import click
from flask import Flask, current_app
from flask.cli import AppGroup

from extensions import db
from services.accounts import api_keys, users
from services.runtime import migrations


def register_commands(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(users_group)
    app.cli.add_command(api_keys_group)


@click.group("db", cls=AppGroup, help="Database schema.")
def db_group():
    pass


@db_group.command("upgrade", help="Upgrade the database schema to the newest revision.")
def db_upgrade():
    migrations.upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is at the newest schema revision")


@click.group("users", cls=AppGroup, help="Panel accounts.")
def users_group():
    pass


@users_group.command("create", help="Create an account (the password is asked for when not given).")
@click.argument("username")
@click.option("--role", type=click.Choice(users.ROLES), default="viewer", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_create(username: str, role: str, password: str):
    try:
        user = users.create_user(db.session, username, password, role, current_app.config["PASSWORD_HASH_METHOD"])
    except users.AccountError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"created {user.role} {user.username} (id {user.id})")


@users_group.command("set-password", help="Set an account's password (e.g. a forgotten generated one).")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_set_password(username: str, password: str):
    user = users.find_user(db.session, username)
    if user is None:
        raise click.ClickException(f"no account named {username}")
    try:
        users.update_user(db.session, user, {"password": password}, current_app.config["PASSWORD_HASH_METHOD"])
    except users.AccountError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"password of {user.username} changed")


@users_group.command("list", help="List accounts.")
def users_list():
    for user in users.list_users(db.session):
        click.echo(f"{user.id}\t{user.username}\t{user.role}\t{'active' if user.active else 'disabled'}")


@click.group("api-keys", cls=AppGroup, help="Ingest API keys.")
def api_keys_group():
    pass


@api_keys_group.command("create", help="Create an ingest API key and print it (shown this once).")
@click.argument("name")
def api_keys_create(name: str):
    try:
        issued = api_keys.issue_api_key(db.session, name)
    except users.AccountError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(issued.key)
