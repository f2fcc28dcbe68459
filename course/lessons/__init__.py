"""The lessons' helpers, one module per lesson (named for it), apart from the platform in `course/`.

01 full_fine_tuning, 02 soft_prompting, 03 prompt_tuning, 04 prefix_tuning (03 and 04 share persona),
05 adapters, 06 lora, 07 qlora, 08 alignment (and its study alignment_stability), 09 rag_vs_fine_tuning
(and its study known_unknown), 10 distillation, 11 capstone (a package: methods, measure, benchmark, report).
None holds an exercise's answer.
"""
