"""slurm-log-controller: keeps a CycleCloud Slurm cluster's logs flowing into Azure Monitor."""

__version__ = "0.1.0"
