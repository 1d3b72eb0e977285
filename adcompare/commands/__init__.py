"""Subcommands of the `adcompare` CLI, one module per concept."""
