"""Built-in encoders; importing this package registers them."""

from probekit.encoders import baselines, bigru, ema  # noqa: F401  (registration side effects)
from probekit.encoders import hf  # noqa: F401,E402  (hf / gpt2: torch and transformers load lazily)
from probekit.encoders import gru_lm  # noqa: F401,E402  (gru-lm: torch loads lazily)
from probekit.encoders import lm  # noqa: F401,E402  (lm: models trained by `probekit lm train`)
