"""``smsgate admin …``: projects, keys and tokens, signatures, the lexicon, opt-outs (and, from
``cli.operators``, the console's operators).

Admin commands open the same store as the server (``--data-dir`` or ``--database-url``) and work
while it runs: every change bumps the project's version, which the server's caches key on.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Annotated, Optional

import typer

from smsgate.auth.secrets import new_access_key, new_secret_key, new_token, token_hash
from smsgate.cli.operators import operator_app
from smsgate.cli.templates import template_app
from smsgate.cli.options import (
    CliError,
    DatabaseUrl,
    DataDir,
    Json,
    admin_store,
    admin_store_and_box,
    print_result,
)
from smsgate.domain import admin as rules
from smsgate.domain.records import SignStatus, now_ms
from smsgate.store.outbox import OutboxStore

admin = typer.Typer(help="Operator commands: projects, keys, signatures, templates, lexicon, opt-outs.")
project_app = typer.Typer(help="Projects and their grants.")
key_app = typer.Typer(help="AK/SK access keys.")
sign_app = typer.Typer(help="SMS signatures (the provider reviews them).")
words_app = typer.Typer(help="A project's own sensitive words.")
optout_app = typer.Typer(help="Numbers that unsubscribed from a signature.")
token_app = typer.Typer(help="X-Auth-Token tokens.")
for sub, name in [
    (project_app, "project"),
    (key_app, "key"),
    (sign_app, "sign"),
    (template_app, "template"),
    (words_app, "words"),
    (optout_app, "optout"),
    (token_app, "token"),
    (operator_app, "operator"),
]:
    admin.add_typer(sub, name=name)


# --- projects --------------------------------------------------------------------------------


@project_app.command("create")
def project_create(
    name: str,
    enterprise: Annotated[bool, typer.Option("--enterprise", help="An enterprise account.")] = False,
    grant: Annotated[list[str], typer.Option("--grant", help="A permission, e.g. promotion.")] = [],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Create a project; prints its id."""
    name, grants = rules.project_name(name), rules.grants(grant)
    project = admin_store(data_dir, database_url).create_project(name, enterprise, grants)
    print_result(as_json, {"project_id": project.id, "name": project.name}, project.id)


@project_app.command("set")
def project_set(
    project_id: str,
    daily_cap: Annotated[Optional[int], typer.Option(
        help=f"Promotional SMS per number per day, 1 to {rules.DAILY_CAP_MAX}.")] = None,
    send_window: Annotated[Optional[str], typer.Option(help="HH:MM-HH:MM local time.")] = None,
    enterprise: Annotated[Optional[bool], typer.Option("--enterprise/--no-enterprise")] = None,
    grant: Annotated[Optional[list[str]], typer.Option("--grant", help="Replace the grants.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Change a project's cap, sending window, account type or grants."""
    project = admin_store(data_dir, database_url).update_project(
        project_id,
        daily_cap=None if daily_cap is None else rules.daily_cap(daily_cap),
        send_window=None if send_window is None else rules.send_window(send_window),
        enterprise=None if enterprise is None else int(enterprise),
        grants=None if grant is None else rules.grants(grant),
    )
    print_result(as_json, _project_json(project), f"project {project.id} updated")


@project_app.command("show")
def project_show(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """Show a project's settings."""
    project = admin_store(data_dir, database_url).require_project(project_id)
    payload = _project_json(project)
    print_result(as_json, payload, "\n".join(f"{k}: {v}" for k, v in payload.items()))


@project_app.command("callback-secret")
def project_callback_secret(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """The key this project's callbacks are signed with (HMAC-SHA256); created on first use."""
    store, box = admin_store_and_box(data_dir, database_url)
    store.require_project(project_id)
    outbox = OutboxStore(store.db)
    if outbox.sealed_secret(project_id) is None:
        outbox.subscribe(project_id, [], box.seal(new_secret_key()))
    secret = box.open(outbox.sealed_secret(project_id) or b"")
    print_result(as_json, {"callback_secret": secret}, secret)


def _project_json(project) -> dict:
    return {
        "project_id": project.id,
        "name": project.name,
        "enterprise": project.enterprise,
        "grants": sorted(project.grants),
        "daily_cap": project.daily_cap,
        "send_window": project.send_window,
    }


# --- keys and tokens -------------------------------------------------------------------------


@key_app.command("create")
def key_create(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """Create an AK/SK pair; the secret key is shown once, and stored encrypted."""
    store, box = admin_store_and_box(data_dir, database_url)
    access_key, secret_key = new_access_key(), new_secret_key()
    store.add_access_key(project_id, access_key, box.seal(secret_key))
    print_result(
        as_json,
        {"access_key": access_key, "secret_key": secret_key},
        f"access key: {access_key}\nsecret key: {secret_key}  (shown once)",
    )


@key_app.command("revoke")
def key_revoke(access_key: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Revoke an access key at once, and the tokens minted with it."""
    if not admin_store(data_dir, database_url).revoke_access_key(access_key):
        raise CliError(f"no live access key {access_key}")
    typer.echo(f"access key {access_key} revoked, with the tokens minted with it")


@token_app.command("create")
def token_create(
    project_id: str,
    hours: Annotated[int, typer.Option(min=1, max=24, help="Lifetime.")] = 24,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Issue an X-Auth-Token for a project."""
    store = admin_store(data_dir, database_url)
    store.require_project(project_id)
    token = new_token()
    expires = now_ms() + hours * 3_600_000
    token_id = store.add_token(token_hash(token), project_id, expires)
    print_result(as_json, {"token": token, "token_id": token_id, "expires_at_ms": expires}, token)


@token_app.command("list")
def token_list(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """List a project's tokens that have not expired (never the tokens themselves): id, the
    access key each was minted with, when issued, when it expires, whether revoked."""
    store = admin_store(data_dir, database_url)
    store.require_project(project_id)
    now = now_ms()
    rows = [
        {"token_id": t.id,
         "minted_with": t.access_key or ("admin" if t.issued_at is not None else None),
         "issued_at": _iso(t.issued_at), "expires_at": _iso(t.expires_at),
         "revoked_at": _iso(t.revoked_at), "state": "revoked" if t.revoked_at else "live"}
        for t in store.tokens(project_id, now)
    ]
    human = "\n".join(
        f"{r['token_id']}  {r['state']:<7}  minted with {r['minted_with'] or '(unknown)'}"
        f"  issued {r['issued_at'] or '(unknown)'}  expires {r['expires_at']}"
        for r in rows
    )
    print_result(as_json, {"tokens": rows}, human or "(no tokens)")


@token_app.command("revoke")
def token_revoke(
    project_id: str,
    token_id: Annotated[Optional[str], typer.Argument(help="The token's id (see `token list`).")] = None,
    all_tokens: Annotated[bool, typer.Option("--all", help="Every live token of the project.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Revoke a token (or --all of the project's) at once: every API process refuses it from
    its next request."""
    if (token_id is None) == (not all_tokens):
        raise CliError("give either a TOKEN_ID or --all")
    revoked = admin_store(data_dir, database_url).revoke_tokens(project_id, token_id)
    if token_id is not None and not revoked:
        raise CliError(f"project {project_id} has no live token {token_id}")
    print_result(as_json, {"revoked": revoked}, f"{revoked} token(s) revoked")


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


# --- signatures ------------------------------------------------------------------------------


class SignKind(str, Enum):
    promotional = "promotional"
    notification = "notification"


@sign_app.command("create")
def sign_create(
    project_id: str,
    sign_name: str,
    type: Annotated[SignKind, typer.Option("--type")] = SignKind.promotional,
    approve: Annotated[bool, typer.Option("--approve", help="Approve it at once.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Create a signature (pending review unless --approve)."""
    name, kind = rules.sign_name(sign_name), rules.sign_type(type.value)
    store = admin_store(data_dir, database_url)
    sign = store.create_sign(project_id, name, kind)
    if approve:
        sign = store.set_sign_status(project_id, sign.id, SignStatus.APPROVED)
    print_result(as_json, {"sign_id": sign.id, "status": int(sign.status)}, sign.id)


@sign_app.command("approve")
def sign_approve(
    project_id: str, sign_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Approve a signature."""
    admin_store(data_dir, database_url).set_sign_status(project_id, sign_id, SignStatus.APPROVED)
    typer.echo(f"signature {sign_id} approved")


@sign_app.command("reject")
def sign_reject(
    project_id: str,
    sign_id: str,
    reason: Annotated[str, typer.Option(help="Told to the customer in `reply`.")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Reject a signature, with a reason."""
    reply = rules.rejection_note(reason)
    admin_store(data_dir, database_url).set_sign_status(project_id, sign_id, SignStatus.REJECTED, reply)
    typer.echo(f"signature {sign_id} rejected")


@sign_app.command("list")
def sign_list(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """List a project's signatures."""
    store = admin_store(data_dir, database_url)
    store.require_project(project_id)
    signs = store.list_signs(project_id)
    rows = [
        {"sign_id": s.id, "sign_name": s.name, "type": s.type.name.lower(), "status": s.status.name.lower()}
        for s in signs
    ]
    human = "\n".join(f"{r['sign_id']}  {r['sign_name']}  {r['type']}  {r['status']}" for r in rows)
    print_result(as_json, {"signs": rows}, human or "(no signatures)")


# --- lexicon and opt-outs --------------------------------------------------------------------


@words_app.command("add")
def words_add(
    project_id: str, words: list[str], data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Add words to the project's own lexicon (on top of the built-in one)."""
    added = admin_store(data_dir, database_url).add_words(project_id, rules.words_to_add(words))
    typer.echo(f"{added} word(s) added")


@words_app.command("remove")
def words_remove(
    project_id: str, words: list[str], data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Remove words from the project's own lexicon."""
    removed = admin_store(data_dir, database_url).remove_words(project_id, rules.words_to_remove(words))
    typer.echo(f"{removed} word(s) removed")


@words_app.command("list")
def words_list(
    project_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: Json = False
) -> None:
    """List the project's own words."""
    words = admin_store(data_dir, database_url).words(project_id)
    print_result(as_json, {"words": words}, "\n".join(words) or "(no words)")


@optout_app.command("add")
def optout_add(
    project_id: str,
    sign_id: str,
    numbers: list[str],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Opt numbers out of a signature's promotional SMS."""
    normalized = rules.numbers(numbers)
    added = admin_store(data_dir, database_url).add_optouts(project_id, sign_id, normalized)
    typer.echo(f"{added} number(s) opted out")

