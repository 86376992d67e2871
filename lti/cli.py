"""``gxpbridge lti``: platform registrations, tool keys, registration tokens, rosters."""

from __future__ import annotations

import logging
import typing as t
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from bridge.core import people
from bridge.core.cli import command_errors, transactional_command
from bridge.core.uow import UnitOfWork
from lti import keys, services
from lti.models import LtiContext
from lti.views import tool_base_url

logger = logging.getLogger(__name__)


@click.group("lti")
def lti_group() -> None:
    """The LTI 1.3 tool: LMS platforms, keys, Dynamic Registration, rosters."""


@lti_group.group("platform")
def platform_group() -> None:
    """LMS platform registrations (issuer + client id, with deployments)."""


@platform_group.command("add")
@click.option("--issuer", required=True, help="the platform's issuer (Moodle: its URL)")
@click.option("--client-id", required=True, help="the client id the platform gave this tool")
@click.option("--deployment-id", "deployment_ids", multiple=True, required=True, help="repeatable")
@click.option("--auth-login-url", required=True, help="platform OIDC authentication request URL")
@click.option("--auth-token-url", required=True, help="platform OAuth2 access token URL")
@click.option("--auth-audience", default=None, help="audience of token requests if not the token URL")
@click.option("--keyset-url", default=None, help="platform public keyset URL")
@click.option("--public-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="platform public key (PEM), instead of a keyset URL")
@click.option("--name", default="", help="a name for people (defaults to the issuer's host)")
@click.option("--xapi-homepage", default=None,
              help="home page of the xAPI accounts in this LMS's statements (default: the issuer)")
@click.option("--role", "roles", multiple=True, metavar="LTI_ROLE=ROLE",
              help="map an LTI context role to a GxP Bridge role, e.g. Mentor=trainer (repeatable)")
@with_appcontext
@transactional_command
def platform_add(issuer: str, client_id: str, deployment_ids: tuple[str, ...], auth_login_url: str,
                 auth_token_url: str, auth_audience: str | None, keyset_url: str | None,
                 public_key_file: Path | None, name: str, xapi_homepage: str | None,
                 roles: tuple[str, ...], *, uow: UnitOfWork) -> t.Callable[[], None]:
    """Register an LMS platform."""
    if bool(keyset_url) == bool(public_key_file):
        raise click.UsageError("give exactly one of --keyset-url or --public-key-file")
    role_map = {}
    for pair in roles:
        lti_role, sep, role = pair.partition("=")
        if not sep or not lti_role.strip() or not role.strip():
            raise click.BadParameter(f"expected LTI_ROLE=ROLE, got {pair!r}", param_hint="--role")
        role_map[lti_role.strip()] = role.strip()
    pem = public_key_file.read_text() if public_key_file else None
    platform = services.add_platform(
        uow, issuer=issuer, client_id=client_id, deployment_ids=deployment_ids,
        auth_login_url=auth_login_url, auth_token_url=auth_token_url, keyset_url=keyset_url,
        public_key_pem=pem, auth_audience=auth_audience, name=name, xapi_homepage=xapi_homepage,
        role_map=role_map)
    uow.flush()
    summary = (f"registered platform {platform.id}: {platform.issuer} client {platform.client_id} "
               f"deployments {', '.join(platform.deployment_ids)}")
    base = tool_base_url()

    def report() -> None:  # printed once the registration is committed
        click.echo(summary)
        click.echo(f"tool URLs: login {base}/lti/login  launch/redirect {base}/lti/launch  "
                   f"keyset {base}/lti/jwks")
    return report


@platform_group.command("list")
@click.option("--all", "include_removed", is_flag=True, help="include removed registrations")
@with_appcontext
@transactional_command(readonly=True)
def platform_list(include_removed: bool, *, uow: UnitOfWork) -> None:
    """List registered platforms."""
    rows = services.list_platforms(uow.session, include_removed=include_removed)
    if not rows:
        click.echo("no platform registered")
    for p in rows:
        state = "active" if p.active else "removed"
        click.echo(f"{p.id}\t{p.name}\t{p.issuer}\t{p.client_id}\tdeployments={','.join(p.deployment_ids)}"
                   f"\t{p.keyset_url or 'public key'}\t{p.registered_by}\t{state}")


@platform_group.command("remove")
@click.argument("platform_id", type=int)
@click.option("--reason", required=True, help="why (audited)")
@with_appcontext
@transactional_command
def platform_remove(platform_id: int, reason: str, *, uow: UnitOfWork) -> t.Callable[[], None]:
    """Remove (deactivate) platform PLATFORM_ID: its launches are refused; history stays."""
    platform = services.remove_platform(uow, platform_id, reason)
    message = f"platform {platform.id} ({platform.issuer}) removed"
    return lambda: click.echo(message)


@platform_group.command("add-deployment")
@click.argument("platform_id", type=int)
@click.argument("deployment_id")
@with_appcontext
@transactional_command
def platform_add_deployment(platform_id: int, deployment_id: str, *,
                            uow: UnitOfWork) -> t.Callable[[], None]:
    """Add DEPLOYMENT_ID to platform PLATFORM_ID."""
    services.add_deployment(uow, platform_id, deployment_id)
    return lambda: click.echo(f"deployment {deployment_id} added to platform {platform_id}")


@platform_group.command("return-origins")
@click.argument("platform_id", type=int)
@click.argument("origins", nargs=-1)
@with_appcontext
@transactional_command
def platform_return_origins(platform_id: int, origins: tuple[str, ...], *,
                            uow: UnitOfWork) -> t.Callable[[], None]:
    """Set the further ORIGINS (https://host[:port]) PLATFORM_ID's Deep Linking responses may
    be posted to, beside its issuer, login and token URLs' origins; none clears them.
    """
    platform = services.set_return_origins(uow, platform_id, origins)
    shown = ", ".join(platform.return_origins or []) or "none besides its own"
    return lambda: click.echo(f"platform {platform_id}: further Deep Linking return origins: {shown}")


@lti_group.group("keys")
def keys_group() -> None:
    """The tool's signing keys (published at /lti/jwks)."""


@keys_group.command("list")
@with_appcontext
@transactional_command
def keys_list(*, uow: UnitOfWork) -> t.Callable[[], None]:
    """List the tool keys (the first one is generated if there is none)."""
    keys.ensure_key(uow)
    published = {k.id for k in keys.published_keys(uow.session, uow.clock.now())}
    lines = []
    for key in uow.session.scalars(select(keys.LtiToolKey).order_by(keys.LtiToolKey.id)):
        state = "active" if key.retired_at is None else f"retired {key.retired_at:%Y-%m-%d %H:%M}"
        shown = "published" if key.id in published else "unpublished"
        lines.append(f"{key.id}\t{key.kid}\t{state}\t{shown}")
    return lambda: click.echo("\n".join(lines))


@keys_group.command("rotate")
@click.option("--reason", default="scheduled key rotation", show_default=True)
@with_appcontext
@transactional_command
def keys_rotate(reason: str, *, uow: UnitOfWork) -> t.Callable[[], None]:
    """Make a new signing key; the old one stays published for a grace period."""
    key = keys.rotate(uow, reason)
    message = (f"new active key {key.kid}; previous keys stay in the JWKS for "
               f"{keys.RETIRED_KEY_GRACE.days} days")
    return lambda: click.echo(message)


@lti_group.group("registration-token")
def token_group() -> None:
    """One-time tokens for LTI Dynamic Registration."""


@token_group.command("create")
@click.option("--label", default="", help="which LMS it is for")
@click.option("--hours", default=24, show_default=True, type=int, help="validity")
@with_appcontext
@transactional_command
def token_create(label: str, hours: int, *, uow: UnitOfWork) -> t.Callable[[], None]:
    """Print a one-time Dynamic Registration URL (paste it as Moodle's "Tool URL")."""
    row, secret = services.create_registration_token(uow, label=label, hours=hours)
    expires, url = row.expires_at, f"{tool_base_url()}/lti/register?gxp_token={secret}"

    def report() -> None:  # the secret is shown only once it is stored
        click.echo(url)
        click.echo(f"valid once, until {expires:%Y-%m-%d %H:%M} UTC", err=True)
    return report


@lti_group.group("roster")
def roster_group() -> None:
    """Course rosters (Names and Role Provisioning Services)."""


@transactional_command(readonly=True)
def _roster_courses(course_pk: int | None, *, uow: UnitOfWork) -> list[int]:
    query = select(LtiContext.id).where(LtiContext.memberships_url.is_not(None))
    if course_pk is not None:
        query = query.where(LtiContext.id == course_pk)
    return list(uow.session.scalars(query.order_by(LtiContext.id)))


@transactional_command
def _sync_course(course_pk: int, *, uow: UnitOfWork) -> services.RosterResult:
    # Each course in its own unit of work: one unreachable LMS does not undo the others.
    return services.sync_roster(uow, course_pk)


@roster_group.command("sync")
@click.option("--course", "course_pk", type=int, default=None, help="internal course id (see 'roster list')")
@with_appcontext
@command_errors
def roster_sync(course_pk: int | None) -> None:
    """Read rosters from the platforms into people (all courses with a roster service by default)."""
    course_pks = _roster_courses(course_pk)
    if course_pk is not None and not course_pks:
        raise click.ClickException(f"no course {course_pk} with a roster service")
    failures = 0
    for pk in course_pks:
        try:
            result = _sync_course(pk)
            click.echo(f"course {pk}: {result.members} members, {result.created} new people, "
                       f"{result.inactive} inactive, {result.removed} removed")
        except Exception as exc:
            failures += 1
            click.echo(f"course {pk}: roster sync failed: {exc}", err=True)
    if failures:
        raise click.ClickException(f"{failures} course(s) failed")


@roster_group.command("list")
@with_appcontext
@transactional_command(readonly=True)
def roster_list(*, uow: UnitOfWork) -> None:
    """Courses known from launches."""
    for c in uow.session.scalars(select(LtiContext).order_by(LtiContext.id)):
        synced = f"{c.roster_synced_at:%Y-%m-%d %H:%M}" if c.roster_synced_at else "never"
        click.echo(f"{c.id}\t{c.platform.issuer}\t{c.context_id}\t{c.title}\tsynced {synced}")


@lti_group.group("signing-password")
def signing_group() -> None:
    """Signing passwords of people who come through the LMS."""


@signing_group.command("reset")
@click.argument("username")
@click.option("--reason", required=True, help="why (audited)")
@with_appcontext
@transactional_command
def signing_reset(username: str, reason: str, *, uow: UnitOfWork) -> t.Callable[[], None]:
    """Clear USERNAME's signing password; they set a new one at their next launch."""
    user = services.reset_signing_password(uow, username, reason)
    message = f"signing password of {user.username} cleared: they set a new one at their next launch"
    return lambda: click.echo(message)


@lti_group.group("identity")
def identity_group() -> None:
    """LMS accounts whose e-mail matches a recorded person: links waiting for proof."""


@identity_group.command("list")
@click.option("--all", "include_resolved", is_flag=True, help="include linked and rejected matches")
@with_appcontext
@transactional_command(readonly=True)
def identity_list(include_resolved: bool, *, uow: UnitOfWork) -> None:
    """List e-mail matches (id, status, LMS, LMS user, e-mail, matched person, own person)."""
    rows = services.list_matches(uow.session, include_resolved=include_resolved)
    if not rows:
        click.echo("no e-mail match waiting")
    for m in rows:
        candidate = uow.session.get(people.Person, m.candidate_person_id)
        name = candidate.display_name if candidate else "?"
        click.echo(f"{m.id}\t{m.status}\t{m.platform.issuer}\t{m.subject}\t{m.email}\t"
                   f"person {m.candidate_person_id} ({name})\tmeanwhile person {m.launch_person_id}")


@identity_group.command("confirm")
@click.argument("match_id", type=int)
@click.option("--reason", required=True, help="the evidence you checked (audited)")
@with_appcontext
@transactional_command
def identity_confirm(match_id: int, reason: str, *, uow: UnitOfWork) -> t.Callable[[], None]:
    """QA confirms MATCH_ID: the LMS account is linked to the recorded person."""
    person = services.confirm_match(uow, match_id, reason)
    message = (f"match {match_id} confirmed: the LMS account is linked to person {person.id} "
               f"({person.display_name})")
    return lambda: click.echo(message)


@identity_group.command("reject")
@click.argument("match_id", type=int)
@click.option("--reason", required=True, help="why (audited)")
@with_appcontext
@transactional_command
def identity_reject(match_id: int, reason: str, *, uow: UnitOfWork) -> t.Callable[[], None]:
    """QA rules MATCH_ID out: the LMS account keeps a person of its own."""
    services.reject_match(uow, match_id, reason)
    return lambda: click.echo(f"match {match_id} rejected")
