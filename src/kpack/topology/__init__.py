"""PodTopologySpread and InterPodAffinity: typed terms, consulted objects, scheduling path."""
