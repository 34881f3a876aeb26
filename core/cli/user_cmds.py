"""user add|list|remove: the password-login users file (written as the local operator)."""

from __future__ import annotations

import getpass
import sys


def register(sub) -> None:
    u = sub.add_parser(
        "user",
        help="dashboard users for the built-in password login",
        description="Manage the users file (bcrypt hashes; USERS_FILE, default data/users.json).",
    )
    us = u.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = us.add_parser("add", help="add or update a user", description="Add or update a user.")
    p.add_argument("username")
    p.add_argument("--role", choices=["viewer", "admin"], default="viewer", help="viewer reads; admin also edits")
    p.add_argument(
        "--company",
        action="append",
        required=True,
        dest="companies",
        help="a company the user may see (repeat; '*' for every company)",
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument(
        "--sso",
        action="store_true",
        help="no password: the user logs in through single sign-on (OIDC); USERNAME is the email",
    )
    p.set_defaults(func=_add)
    p = us.add_parser("list", help="list users", description="List users, roles and companies.")
    p.set_defaults(func=_list)
    p = us.add_parser("remove", help="remove a user", description="Remove a user.")
    p.add_argument("username")
    p.set_defaults(func=_remove)


def _add(args) -> int:
    from core.access.users import LOCAL_OPERATOR, add_user

    if args.sso:
        password = None
    elif args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("error: passwords differ", file=sys.stderr)
            return 2
    user = add_user(args.username, password, role=args.role, companies=args.companies, actor=LOCAL_OPERATOR)
    print(f"user {user.username} saved: role {user.role}, companies {', '.join(user.companies)}")
    return 0


def _list(args) -> int:
    from core.access.users import list_users

    users = list_users()
    if not users:
        print("(no users: the dashboard runs in local mode on 127.0.0.1)")
    for u in users:
        print(f"{u.username:<24} {u.role:<7} {', '.join(u.companies)}")
    return 0


def _remove(args) -> int:
    from core.access.users import LOCAL_OPERATOR, remove_user

    ok = remove_user(args.username, actor=LOCAL_OPERATOR)
    print("user removed" if ok else "no such user")
    return 0 if ok else 2
