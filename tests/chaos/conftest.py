"""The chaos suite runs on the integration suite's harness: this conftest is that one
(tests/integration/conftest.py, loaded by path), so the area helpers there (hub_util,
tunnel_util, master_util), which import from `conftest`, work unchanged here."""
import importlib.util
import sys
from pathlib import Path

_INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
if str(_INTEGRATION) not in sys.path:
    sys.path.insert(0, str(_INTEGRATION))
_spec = importlib.util.spec_from_file_location("_integration_conftest",
                                               _INTEGRATION / "conftest.py")
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__")})
