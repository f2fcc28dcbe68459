"""The lessons, in syllabus order. Folder names are the lesson ids used everywhere."""

from __future__ import annotations

from course.errors import CourseError

LESSONS: dict[str, str] = {
    "01-full-fine-tuning": "Full fine-tuning",
    "02-soft-prompting": "Soft prompting (prompt engineering)",
    "03-prompt-tuning": "Prompt tuning",
    "04-prefix-tuning": "Prefix tuning",
    "05-adapters": "Adapters",
    "06-lora": "LoRA",
    "07-qlora": "QLoRA and NF4 quantization",
    "08-alignment": "SFT -> reward model -> RLHF / DPO",
    "09-rag-vs-fine-tuning": "RAG versus fine-tuning",
    "10-distillation": "Model distillation",
}
# lessons whose exercise and lab exist; later issues add the others
READY = ("01-full-fine-tuning", "02-soft-prompting", "03-prompt-tuning", "04-prefix-tuning", "06-lora", "07-qlora",
         "08-alignment", "10-distillation")


def require_lesson(lesson: str) -> str:
    """`lesson` if it is a lesson with an exercise, else a CourseError listing the valid ids."""
    if lesson in READY:
        return lesson
    if lesson in LESSONS:
        raise CourseError(f"lesson {lesson!r} has no exercise yet (ready: {', '.join(READY)})")
    raise CourseError(f"unknown lesson {lesson!r} (lessons: {', '.join(READY)})")
