"""Units of memory, defined once: MiB and GiB (binary) for what a process measures and a limit sets, MB and GB
(decimal) for what a model or a card holds, as Hugging Face's `get_memory_footprint` and NVIDIA count."""

MiB = 2**20
GiB = 2**30
MB = 10**6
GB = 10**9
