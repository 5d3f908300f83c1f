"""HTTP route modules. Importing one registers its operations on ``web.api.API``."""

from web.routes import accounts, health

__all__ = ["accounts", "health"]
