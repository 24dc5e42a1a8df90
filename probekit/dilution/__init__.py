"""The dilution analyzer: what a bank of fixed-decay (EMA) traces keeps of the token k steps back.

``theory``: closed-form per-lag readout quality, Gaussian-channel bits, accuracy ceilings and
linear memory capacity; ``precision``: what survives float16/float32 storage or additive noise,
with the exact peeling decoder for one-hot inputs; ``design``: rates that put the capacity
where it is wanted; ``empirical``: measured identity curves and the probe-capacity ladder (it
trains probes, so it is imported only when asked for); ``report``: what ``probekit dilution``
prints and plots.
"""
