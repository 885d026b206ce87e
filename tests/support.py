"""Names shared by the tests' simulated Azure."""

SUB = "00000000-0000-0000-0000-000000000000"
RG = "slurm-rg"
