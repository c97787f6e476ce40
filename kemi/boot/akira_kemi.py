"""Entry script that Kamailio's app_python3 loads (modparam "load").

Kamailio puts this file's folder first on sys.path, so it stays alone here: nothing in this
folder can shadow a library module. It makes the project and its virtualenv importable, then
hands Kamailio the KEMI object.
"""

import os
import site
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_VENV = os.environ.get("AKIRA_VENV", os.path.join(_ROOT, ".venv"))
site.addsitedir(
    os.path.join(
        _VENV, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages"
    )
)
if _ROOT not in sys.path:
    sys.path.insert(1, _ROOT)

from kemi.routes import Router  # noqa: E402  (needs the paths above)


def mod_init() -> Router:
    """Called once before Kamailio forks; connections are made later, in child_init."""
    return Router()
