"""The holders' and payment providers' API, one module per part: ``holders`` (what every holder
endpoint shares, the e-card, authorisations, wards, notices), ``cards``, ``applications``,
``family`` and ``providers``. Named here for config/urls.py and for codes/apis.py, which builds
the holders' code endpoints on ``HolderApi``."""

from .applications import *  # noqa: F403
from .cards import *  # noqa: F403
from .family import *  # noqa: F403
from .holders import *  # noqa: F403
from .providers import *  # noqa: F403
