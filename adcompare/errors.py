"""The one exception type for user mistakes.

Anything raised as `UserError` is printed by the CLI as a single line and exits with status 2;
everything else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """A mistake in what the user asked for (unknown name, bad size, malformed vector)."""


def choose_from(kind: str, given: object, allowed) -> UserError:
    """The standard 'unknown X; choose from: ...' error."""
    return UserError(f"unknown {kind} {given!r}; choose from: {', '.join(map(str, allowed))}")
