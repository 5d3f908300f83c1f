"""Subcommands beyond serve and migrate; each module registers itself with ``@subcommand``."""
