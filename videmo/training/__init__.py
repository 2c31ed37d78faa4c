"""``videmo train`` and ``videmo evaluate``: the datasets and their layouts (``datasets``, ``images``),
augmentation (``augment``), noisy-label handling (``noisy``), the training loop (``train``), scoring
(``evaluate``, ``metrics``)."""
