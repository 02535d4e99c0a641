"""polaris-repro: reproduce the POLARIS RL recipe (GRPO on verl) at CPU and cluster scale."""
__version__ = "0.1.0"
