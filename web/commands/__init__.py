"""Subcommands beyond serve and migrate; each module registers itself with ``@subcommand``."""
from web.commands import loadtest_cmd  # noqa: F401 - classhub loadtest, loadtest-setup
from web.commands import maintenance  # noqa: F401 - classhub maintenance
from web.commands import keys  # noqa: F401 - classhub keys status|rotate
from web.commands import mailer  # noqa: F401 - classhub mailer
from web.commands import demo, users  # noqa: F401 - classhub demo, classhub user
