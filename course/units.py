"""Units of memory, defined once: MiB for what a process measures, MB and GB (decimal) for what a card or a
file holds, as Hugging Face's `get_memory_footprint` and NVIDIA's specifications count."""

MiB = 2**20
MB = 10**6
GB = 10**9
