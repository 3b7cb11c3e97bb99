"""How every command's help and usage errors read: what a user types, never a Python type.

Typer ≥ 0.27 prints each parameter's Python type in angle brackets in ``--help`` (``<str>``,
``<int>``, and ``<bool>`` on every flag, ``--help`` included). :class:`StopsmsGroup`, the root
group's class, gives every parameter of the whole command tree, once Typer has built it, the
conventional form instead: a flag shows no value, other options and arguments the kind of value
they take (``TEXT``, ``INTEGER``, ``NUMBER``, ``PATH``). It is applied to the tree, not command
by command, so a new command cannot escape it; ``tests/unit/cli/test_help.py`` renders every
command's help and fails on any ``<str>``-like artefact.

It also answers a negative number given where a positional value is expected: Click reads
``credits add -5`` as an option ``-5`` and would say "No such option: -5"; the user is told
that the amount must be positive (or, for a text, to put it after ``--``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, ClassVar

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from stopsms.cli.console import fail

__all__ = ["StopsmsGroup"]

#: Python type (as Typer names it) → what the help shows; unknown types show in capitals.
_LABELS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH"}

_NEGATIVE_NUMBER = re.compile(r"-[0-9][0-9.,_]*")


def _label(param: TyperOption | TyperArgument) -> str:
    bare = param.bare_type()
    inner = bare.removeprefix("list[").removesuffix("]")  # repeatable: the help says so
    return _LABELS.get(inner, inner.upper())


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None  # a flag takes no value
        return self.metavar or _label(self)


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return _label(self)


def _tidy(command: Any) -> None:
    """Give every parameter below ``command`` the help form described in the module doc."""
    # --help is made on first use and kept: make it now, so that it gets the same form.
    help_option = command.get_help_option(typer.Context(command))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if type(param) is TyperOption:
            param.__class__ = _Option
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands, each built (its module imported) when first asked for by name.

    Its names are all there from the start, in order (``--help`` lists them, a typo gets its
    suggestion), and a command line loads only the command it names: ``stopsms contacts
    import`` no longer imports the campaigns, the engine, the API server and the demo.
    ``prepare`` is applied to each command as it is built (:func:`_tidy`).
    """

    def __init__(
        self,
        built: Mapping[str, Any],
        loaders: Mapping[str, Callable[[], Any]],
        prepare: Callable[[Any], None],
    ) -> None:
        self._built = dict(built)
        self._loaders = dict(loaders)
        self._prepare = prepare
        self._order = [*self._built, *(name for name in self._loaders if name not in self._built)]

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            command = self._loaders[name]()  # KeyError: no such command
            self._prepare(command)
            self._built[name] = command
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command
        if name not in self._order:
            self._order.append(name)

    def __delitem__(self, name: str) -> None:
        self._built.pop(name, None)
        self._loaders.pop(name, None)
        self._order.remove(name)

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in self._loaders

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


class StopsmsGroup(TyperGroup):
    """The root group: tidies the help of the whole tree; explains negative numbers; builds
    the commands of :attr:`lazy` when first named (:class:`LazyCommands`)."""

    #: Commands built on first use: name → what builds it (a subclass names them).
    lazy: ClassVar[Mapping[str, Callable[[], Any]]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        _tidy(self)
        self.commands = LazyCommands(self.commands, self.lazy, _tidy)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names, without building every command

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.TyperException as error:
            token = getattr(error, "option_name", None)
            if isinstance(token, str) and _NEGATIVE_NUMBER.fullmatch(token):
                fail(_negative_number(token, getattr(error, "cmd", None)))
            raise


def _negative_number(token: str, command: Any) -> str:
    arguments = [p for p in getattr(command, "params", []) if isinstance(p, TyperArgument)]
    name = command.name if command is not None else "stopsms"
    if arguments and _label(arguments[0]) == "TEXT" and arguments[0].name != "amount":
        return (
            f"{token!r} reads as an option: a {arguments[0].name} that starts with '-' goes "
            f"after --, e.g. stopsms {name} -- '{token} …'"
        )
    what = arguments[0].name.replace("_", " ") if arguments else "value"
    return f"invalid {what} {token!r}: must be a positive number"
