"""The numeric kernels the indicators are built from: per-symbol state as numpy
rows (``rowstate``), the two-block windowed statistics (``blocked`` and its
sums, weighted sums, moments and extremes) and the seeded recursive smoothers (``smoothing``).
Each incremental kernel has a backfill twin that agrees with it bit for bit."""
