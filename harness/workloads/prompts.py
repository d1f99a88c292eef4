"""Fixed prompts: short, varied, and answerable by a 270M model, so outputs are long enough to diverge."""

from __future__ import annotations

# The probe: the prompt whose greedy output must not change whatever runs beside it.
PROBE_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."

# Fillers: other requests sharing the batch, of different lengths so the batch composition really varies.
FILLER_PROMPTS: tuple[str, ...] = (
    "List five fruits and describe the colour of each one.",
    "Explain in simple words why the sky is blue.",
    "Translate 'good morning, how are you today?' into French and Spanish.",
    "Give three tips for writing clean Python code, with an example for each.",
    "What is the capital of Japan? Answer and then describe the city briefly.",
    "Describe the water cycle step by step for a ten-year-old reader who likes science.",
    "Summarise the plot of a detective novel in which the butler is innocent.",
    "Count from one to twenty in words.",
    "Write a haiku about autumn leaves.",
    "Why do cats purr? Give two possible reasons.",
    "Name the planets of the solar system in order from the sun.",
    "Write a polite email asking a colleague to review a pull request by Friday.",
)

# Prompts for golden outputs across engine versions.
GOLDEN_PROMPTS: tuple[str, ...] = (PROBE_PROMPT, *FILLER_PROMPTS[:5])
