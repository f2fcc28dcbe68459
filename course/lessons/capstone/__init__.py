"""Lesson 11 (capstone): the source material's method table, measured on one task and one model family.

Seven ways to make SmolLM2 follow the airline's refund policy, each built with the library and the
settings its own lesson uses, each trained on the same tokens (the same batches, steps and seeds), its
learning rate chosen by a small sweep on validation data, over several seeds, each method in a fresh
Python process:

    python -m course.lessons.capstone.measure --method lora --json      # one method: one JSON line per seed
    course capstone --profile cpu --seeds 3 --out results   # all of them: table, CSV, plotly chart

A row is one (method, seed). Policy accuracy is a held-out preference test: for each new request the model
scores its policy reply and the same reply with the opposite refund decision; a pair of requests (one the
airline's fault, one weather) counts when the model prefers the policy reply for both, so a model that takes
one decision whatever the cause scores 0 and a coin 25%. Memory is the method's own bytes, summed from its
tensors: the weights as stored (4-bit codes and their constants included), the gradients and AdamW's state of
what trains, and the activations a training step saves for backward. Forgetting is the change of general-text
perplexity (lesson 01's passages) that training caused, in % of the perplexity before.

The package by job: `methods` (the seven methods and the sizes per profile), `measure` (one method in this
process), `benchmark` (every method, one process each), `report` (summary, table and charts).
"""

from course.lessons.capstone.benchmark import benchmark
from course.lessons.capstone.methods import COLUMNS, METHODS, SIZES, SOURCE_WORDS, require_profile
from course.lessons.capstone.report import AXES, SUMMARY, figure, stored_results, summary, table, trade_off
from course.results import read_csv

__all__ = ["AXES", "COLUMNS", "METHODS", "SIZES", "SOURCE_WORDS", "SUMMARY", "benchmark", "figure", "read_csv",
           "require_profile", "stored_results", "summary", "table", "trade_off"]
