"""PodTopologySpread and InterPodAffinity: typed terms, the objects they consult, and their scheduling path."""
