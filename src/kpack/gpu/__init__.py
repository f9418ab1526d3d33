"""GPU-sharing experiment (FGD paper) on the Alibaba openb trace."""
