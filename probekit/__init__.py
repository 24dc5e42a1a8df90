"""probekit: measure what sequence representations remember.

Public API::

    from probekit import Encoder, Task, register_encoder, run, RunConfig, load_results
"""

from probekit.corpus import Corpus, Sentence, read_conllu, write_conllu
from probekit.errors import ProbekitError
from probekit.features import Features
from probekit.registry import Registry, register_encoder, register_probe, register_task
from probekit.encoders.base import Encoder
from probekit.tasks import Targets, Task, TaskData

import probekit.encoders  # noqa: E402,F401  (registers the built-in encoders)
import probekit.probes  # noqa: E402,F401  (registers the built-in probes)
import probekit.encoders.lm  # noqa: E402,F401  (registers `lm`: it builds on probekit.lm, a floor above the encoders)

from probekit.experiment import RunConfig, load_results, run, run_all, save_record  # noqa: E402

__all__ = [
    "Corpus", "Sentence", "read_conllu", "write_conllu", "ProbekitError", "Features", "Registry",
    "Encoder", "Task", "Targets", "TaskData", "register_encoder", "register_task", "register_probe",
    "RunConfig", "run", "run_all", "load_results", "save_record",
]
