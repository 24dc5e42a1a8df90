"""Built-in probes; importing this package registers them."""

from probekit.probes.attention import AttentionProbe
from probekit.probes.base import Probe
from probekit.probes.hebbian import HebbianProbe
from probekit.probes.linear import LinearProbe
from probekit.probes.mlp import MLPProbe
from probekit.probes.predictive import PredictiveProbe
from probekit.probes.readout import ClusterReadout

__all__ = ["Probe", "LinearProbe", "MLPProbe", "HebbianProbe", "ClusterReadout", "AttentionProbe", "PredictiveProbe"]
