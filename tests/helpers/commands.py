"""Every command of `python -m core`, read from its argument parser."""

from __future__ import annotations

from core.cli import build_parser


def commands() -> list[tuple[str, ...]]:
    """Every command path, e.g. ('budget', 'set')."""
    out = []

    def walk(parser, prefix):
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    out.append(prefix + (name,))
                    walk(sub, prefix + (name,))

    walk(build_parser(), ())
    return out
