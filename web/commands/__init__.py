"""Subcommands beyond serve and migrate; each module registers itself with ``@subcommand``
(web/subcommands.py, never web/cli.py: that one imports these)."""
from web.commands import (  # noqa: F401 - classhub demo, classhub user
    apikey,
    demo,
    keys,
    loadtest_cmd,
    lti,
    mailer,
    maintenance,
    users,
)
