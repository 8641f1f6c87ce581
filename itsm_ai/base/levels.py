"""Impact, urgency and priority levels of tickets (1 is the highest) and how the API labels them."""

from enum import IntEnum


class Impact(IntEnum):
    high = 1
    medium = 2
    low = 3


class Urgency(IntEnum):
    high = 1
    medium = 2
    low = 3


class Priority(IntEnum):
    critical = 1
    high = 2
    moderate = 3
    low = 4


IMPACT_LABELS = {1: "1 - High", 2: "2 - Medium", 3: "3 - Low"}
URGENCY_LABELS = IMPACT_LABELS
PRIORITY_LABELS = {1: "1 - Critical", 2: "2 - High", 3: "3 - Moderate", 4: "4 - Low"}
