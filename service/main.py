"""The module-level app that uvicorn imports: `uvicorn service.main:app`.

Each uvicorn worker process imports this module afresh (with TEXTCNN_WORKERS above 1 they are
spawned, not forked), so logging is configured here as well as in `python -m service`: otherwise
the workers would write no access lines and plain-text errors.
"""

import os

from service.app import create_app
from service.observability import configure_logging
from service.settings import Settings

# torch backs each CPU tensor of 2 MB or more with transparent huge pages when this is set at its
# first allocation, which comes later, as the app's lifespan loads the models. A batched pass's
# activations are that large, and since glibc maps them afresh every pass (service/memory.py), each
# would otherwise fault its pages in 4 KiB at a time. An operator's own value wins.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
settings = Settings()
configure_logging(settings)
app = create_app(settings)
