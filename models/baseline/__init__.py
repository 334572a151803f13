"""TF-IDF n-grams into a linear classifier: the strong, cheap reference family.

Bundles pickle ``models.baseline.BaselineModel`` state; the names stay importable here.
"""

from models.baseline.config import BaselineConfig
from models.baseline.model import BaselineModel

__all__ = ["BaselineConfig", "BaselineModel"]
