"""The base of every config schema: unknown keys and wrong types fail at load.

Each model family owns its config class (``models/<family>/config.py``); the stage configs
in ``pipelines.config`` compose them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Forbids unknown keys, so a typo such as ``epoch: 3`` fails instead of being ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
