"""`tokenboard tokens …` and `tokenboard identities …`: who may report, and who they are."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.core.settings import Settings


def workspace_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--workspace", default=None, metavar="TEAM_ID",
                        help=f"the workspace {what} (a Slack team id like T012AB3CD; "
                             "default: TOKENBOARD_WORKSPACE)")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    tokens = sub.add_parser("tokens", help="manage the bearer tokens senders report with")
    tsub = tokens.add_subparsers(dest="tokens_command", required=True)
    create = tsub.add_parser("create", help="make a token for NAME (printed once, last line)")
    workspace_option(create, "whose counters the token's reports go to, and only to")
    create.add_argument("name")
    create.add_argument("--rate-limit", type=int, default=None, metavar="N",
                        help="this token's own requests a minute (e.g. one token for a fleet "
                             "of laptops exporting OpenTelemetry; 0 = no limit; default: "
                             "INGEST_RATE_LIMIT)")
    create.add_argument("--user", default=None, metavar="SLACK_USER",
                        help="make it a personal token of this Slack user (U012AB3CD or "
                             "W012AB3CD): its reports that name nobody count for them, and "
                             "it reports for nobody else; it replaces their earlier one")
    listing = tsub.add_parser("list", help="names, whose, where they come from, created, "
                                           "last used")
    workspace_option(listing, "whose tokens to list")
    revoke = tsub.add_parser("revoke", help="refuse NAME's token from now on")
    revoke.add_argument("name")
    workspace_option(revoke, "the token belongs to")

    ident = sub.add_parser("identities",
                           help="link source identities (email:, otel:, cursor:, github:, ...) to "
                                "people")
    isub = ident.add_subparsers(dest="identities_command", required=True)
    link = isub.add_parser("link", help="link SOURCE:VALUE to a Slack user and credit its "
                                        "kept reports")
    link.add_argument("slack_user", help="a Slack user id like U012AB3CD")
    link.add_argument("identity", help="e.g. email:ana@example.com, otel:user_01abc, "
                                       "cursor:4821")
    unlink = isub.add_parser("unlink", help="remove a link (credited reports stay)")
    unlink.add_argument("identity")
    imp = isub.add_parser("import", help="link every row of a CSV with header "
                                         "slack_user,identity")
    imp.add_argument("file", type=Path)
    imp.add_argument("--dry-run", action="store_true", help="validate only; link nothing")
    export = isub.add_parser("export", help="print every link as CSV (slack_user,identity)")
    unmapped = isub.add_parser("unmapped", help="identities that report but map to nobody")
    for action in (link, unlink, imp, unmapped, export):
        workspace_option(action, "whose identity map to use")


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def run_tokens(settings: Settings, args: argparse.Namespace) -> int:
    from bot.runtime.app import build_deps
    from bot.store.senders import SenderError, check_user

    deps = build_deps(settings)
    try:
        senders = deps.senders
        if args.tokens_command == "create":
            try:
                previous = senders.personal(check_user(args.user)) if args.user else None
                token = senders.create(args.name, args.rate_limit, owner=args.user)
            except SenderError as exc:
                print(f"tokenboard: {exc}", file=sys.stderr)
                return 1
            whose = f" of {args.user}" if args.user else ""
            print(f"Token for {args.name!r}{whose} (shown once; tokenboard keeps only its "
                  "hash).")
            if previous is not None and previous != args.name:
                print(f"It replaces {args.user}'s earlier token {previous!r}, revoked now.")
            if args.user:
                print(f"Reports sent with it that name nobody count for {args.user}; it "
                      "cannot report for anyone else.")
            print("Send it as: Authorization: Bearer <token>")
            print(token)
            return 0
        if args.tokens_command == "revoke":
            if not senders.revoke(args.name):
                print(f"tokenboard: no token named {args.name!r}", file=sys.stderr)
                return 1
            print(f"Revoked {args.name!r}: its token is refused from now on.")
            return 0
        rows = senders.list()
        if not rows:
            print("No tokens. Set INGEST_TOKENS or run `tokenboard tokens create NAME`.")
            return 0
        print(f"{'NAME':<24} {'WHOSE':<12} {'FROM':<13} {'CREATED':<21} {'LAST USED':<21} "
              f"{'RATE/MIN':<9} STATUS")
        for row in rows:
            origin = {"env": "INGEST_TOKENS", "home": "App Home"}.get(row.source, "cli")
            rate = ("default" if row.rate_limit is None else
                    "no limit" if row.rate_limit == 0 else f"{row.rate_limit:,}")
            print(f"{row.name:<24} {row.owner or 'shared':<12} {origin:<13} "
                  f"{_when(row.created):<21} {_when(row.last_used):<21} {rate:<9} "
                  f"{'revoked' if row.revoked else 'active'}")
        return 0
    finally:
        deps.close()


def run_identities(settings: Settings, args: argparse.Namespace) -> int:
    from bot.intake.count import ScoringChanged
    from bot.intake.identities import IdentityError
    from bot.runtime.app import build_deps

    command = args.identities_command
    rows: list[tuple[str, str]] = []
    if command == "import":
        try:
            text = args.file.read_text()
        except OSError as exc:
            print(f"tokenboard: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
    deps = build_deps(settings)
    try:
        ids = deps.identities
        if command == "import":
            rows, errors = ids.parse_csv(text)
            if errors:
                print(f"tokenboard: {args.file} has {len(errors)} problem(s); nothing linked:",
                      file=sys.stderr)
                for error in errors:
                    print(f"  {error}", file=sys.stderr)
                return 1
            if args.dry_run:
                print(f"{args.file} is valid: {len(rows)} link(s).")
                return 0
            for done, (user, identity) in enumerate(rows, start=1):
                result = ids.link(user, identity)
                print(f"[{done}/{len(rows)}] {result.identity} → {result.user}"
                      + (f" (credited {result.days_credited} day(s))"
                         if result.days_credited else ""))
            print(f"Linked {len(rows)} identities.")
            return 0
        if command == "link":
            result = ids.link(args.slack_user, args.identity)
            moved = f" (was {result.previous})" if result.previous not in (None,
                                                                          result.user) else ""
            print(f"Linked {result.identity} → {result.user}{moved}; credited "
                  f"{result.days_credited} day(s) of kept reports.")
            return 0
        if command == "unlink":
            user = ids.unlink(args.identity)
            if user is None:
                print(f"tokenboard: {args.identity} is not linked", file=sys.stderr)
                return 1
            print(f"Unlinked {args.identity} (was {user}); reports already credited stay.")
            return 0
        if command == "export":
            print(ids.export_csv(), end="")
            return 0
        unmapped, total = ids.unmapped(limit=100)
        if not unmapped:
            print("Every identity that reported maps to a person.")
            return 0
        print(f"{total} identities report but map to nobody:")
        for row in unmapped:
            print(f"  {row.identity:<40} {row.tokens:>14,.0f} tokens  "
                  f"{row.outcomes:>6,.0f} outcomes  last {_when(row.last_seen)}")
        print("Link one with: tokenboard identities link U012AB3CD SOURCE:VALUE")
        return 0
    except IdentityError as exc:
        print(f"tokenboard: {exc}", file=sys.stderr)
        return 1
    except ScoringChanged as exc:
        print(f"tokenboard: {exc}", file=sys.stderr)
        return 1
    finally:
        deps.close()
