"""Running analyses: the ``Analyzer`` that wires decoding, detection, classification and tracking
(``pipeline``), its threads (``lanes``), a batch of videos analysed and saved (``runner``, finding them
with ``inputs``), and the same on a Ray cluster (``cluster``)."""
