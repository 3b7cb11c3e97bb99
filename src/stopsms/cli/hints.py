"""The command that fixes a refusal: the CLI's words for a service error's :class:`Fix`.

Services say what is wrong in values and fields (``invalid rate 0.0``, ``set the account's real
shortcode``) and what would let the request through as data, a
:class:`~stopsms.errors.Fix` (a use case and its values); each interface words that its own
way. This module is the CLI's one place: ``set_account`` becomes
``stopsms accounts set shop --shortcode NNNNN``, ``add_credits``
``stopsms credits add 9 --account shop``, and so on. :func:`worded` appends the command to the
error's line, as :func:`stopsms.cli.console.reported_errors` prints it.
"""

from __future__ import annotations

import re
import shlex

from stopsms.domain.errors import StopsmsError
from stopsms.errors import Fix

__all__ = ["command", "worded"]

_PLAIN = re.compile(r"[\w.+@:…-]+")


def _arg(value: str) -> str:
    return value if _PLAIN.fullmatch(value) else shlex.quote(value)


def _options(fix: Fix, *skip: str) -> str:
    return "".join(
        f" --{name.replace('_', '-')} {_arg(value)}"
        for name, value in fix.values
        if name not in skip
    )


def command(fix: Fix) -> str | None:
    """What to type for ``fix`` (None for an action the CLI has no words for)."""
    value = fix.value
    match fix.action:
        case "set_account":
            return (
                f"`stopsms accounts set {_arg(value('account', 'NAME'))}{_options(fix, 'account')}`"
            )
        case "add_credits":
            return (
                f"`stopsms credits add {value('amount')} --account {_arg(value('account'))}`"
                " then run it again, or --allow-partial"
            )
        case "top_up":
            amount, account = value("amount"), _arg(value("account"))
            return f"`stopsms credits add {amount} --account {account}` then run it again"
        case "close_unknown":
            return f"`stopsms campaign resolve-unknown {value('campaign')} --close`"
        case "preview_campaign":
            campaign = value("campaign")
            return (
                f"`stopsms campaign preview {campaign}` shows why;"
                f" `stopsms campaign cancel {campaign}` ends it"
            )
        case "add_domain":
            return f"`stopsms domains add {_arg(value('domain', 'DOMAIN'))}`"
        case "add_sender":
            return f"`stopsms senders add {_arg(value('sender', 'SENDER'))}`"
        case "resubscribe":
            return f"`stopsms optouts remove {_arg(value('phone', 'NUMBER'))} --evidence …`"
        case "record_optout":
            return f"`stopsms optouts add {_arg(value('phone', 'NUMBER'))}`"
        case "resume_campaign":
            return f"`stopsms campaign resume {value('campaign')}`"
        case "resume_and_send":
            campaign = value("campaign")
            return (
                f"`stopsms campaign resume {campaign}` then `stopsms campaign send {campaign}`"
                " (or a running `stopsms worker`) to go on"
            )
        case "send_campaign":
            return f"`stopsms campaign send {value('campaign')}`"
        case "go_on_sending":
            return (
                f"`stopsms campaign send {value('campaign')}` (or a running `stopsms worker`)"
                " goes on"
            )
        case "map_column":
            return f"--map {_arg(value('column', 'COLUMN'))}={value('field', 'FIELD')}"
        case "choose_rejects":
            return "--rejects FILE"
    return None


def worded(error: StopsmsError) -> str:
    """The error's line, with the command that fixes it when it carries a :class:`Fix`."""
    fix = getattr(error, "fix", None)
    hint = command(fix) if isinstance(fix, Fix) else None
    return f"{error} ({hint})" if hint else str(error)
