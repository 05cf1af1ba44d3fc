"""Root conftest: the suite's fixtures come from the `conformance.plugin` pytest plugin.

When the package is not installed (no pytest11 entry point), load the plugin from the checkout.
"""

import importlib.util

if importlib.util.find_spec("conformance") is not None:
    import importlib.metadata as md

    _registered = any(ep.value == "conformance.plugin" for ep in md.entry_points(group="pytest11"))
    if not _registered:
        pytest_plugins = ["conformance.plugin"]
